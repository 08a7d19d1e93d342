//go:build linux || darwin || freebsd || windows

package keepalive

// options fills in st's keepalive values from src, then GiveUp.
func (st *Status) options(fd uintptr, held Config, src optionSource) {
	switch src {
	case heldOptions:
		st.KeepAlive, st.Config = true, held
		st.Known |= FieldKeepAlive | FieldConfig
	case readOptions:
		// A Multipath TCP socket's values are read all the same.
		if c, on, err := getOptions(fd, false); err == nil {
			st.KeepAlive, st.Config = on, c
			st.Known |= FieldKeepAlive | FieldConfig
		}
	}
	host().giveUp(st, systemOnce())
}
