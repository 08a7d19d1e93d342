//go:build darwin || freebsd

package keepalive

// readStatus reads fd's counters (readCounters, status_<goos>.go), then,
// the keepalive values (see optionSource).
func readStatus(sysfd uintptr, st *Status, held Config, src optionSource) error {
	if err := readCounters(sysfd, st); err != nil {
		return err
	}
	st.options(sysfd, held, src)
	return nil
}
