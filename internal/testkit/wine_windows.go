package testkit

import (
	"unsafe"

	"golang.org/x/sys/windows"
)

// Wine returns Wine's version ("8.0") where the program runs under Wine,
// whose ntdll exports wine_get_version, and "" on Windows itself.
func Wine() string {
	p := windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version")
	if p.Find() != nil {
		return ""
	}
	r, _, _ := p.Call()
	// r points at a static C string inside ntdll.
	return windows.BytePtrToString(*(**byte)(unsafe.Pointer(&r)))
}
