//go:build linux || darwin || freebsd || windows

package keepalive

import "errors"

// options fills in st's keepalive values from src, then GiveUp.
func (st *Status) options(fd uintptr, held Config, src optionSource) {
	switch src {
	case heldOptions:
		st.KeepAlive, st.Config = true, held
		st.Known |= FieldKeepAlive | FieldConfig
	case readOptions:
		// A Multipath TCP socket's values are read all the same.
		if c, on, err := getOptions(fd); err == nil || errors.Is(err, ErrMultipathTCP) {
			st.KeepAlive, st.Config = on, c
			st.Known |= FieldKeepAlive | FieldConfig
		}
	}
	host().giveUp(st, systemOnce())
}
