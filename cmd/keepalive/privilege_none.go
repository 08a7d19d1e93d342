//go:build !linux

package main

// dropPrivileges: elsewhere the commands that would need privileges say
// they need Linux.
func dropPrivileges([]string) error { return nil }
