package keepalive

import (
	"errors"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keepalive-go/keepalive/internal/testkit"
)

// SIO_TCP_INFO on a live connection; where the OS refuses it (Windows
// before 10 1703, Wine) the error says so.
func TestWindowsStatus(t *testing.T) {
	client, server := testkit.Pair(t, testkit.Loopback{Network: "tcp4", Addr: "127.0.0.1:0"}, nil, (&net.Dialer{KeepAlive: -1}).DialContext)
	st, err := StatusOf(client)
	if errors.Is(err, errors.ErrUnsupported) {
		testkit.SkipUnderWine(t, "it has no SIO_TCP_INFO: "+err.Error())
	}
	require.NoError(t, err)
	t.Logf("%+v", st)
	assert.Equal(t, StateEstablished, st.State)
	assert.False(t, st.Has(FieldProbes))
	require.NoError(t, server.Close())
	_, err = client.Read(make([]byte, 1))
	require.Error(t, err)
	cause, st, err := CauseOf(client, err)
	require.NoError(t, err)
	t.Logf("%v %+v", cause, st)
	assert.Equal(t, CausePeerClosed, cause)
}
