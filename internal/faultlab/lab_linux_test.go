package faultlab_test

import (
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keepalive-go/keepalive/internal/faultlab"
	"github.com/keepalive-go/keepalive/internal/testkit"
)

func TestMain(m *testing.M) {
	faultlab.ServePeer()
	os.Exit(m.Run())
}

func lab(t *testing.T) *faultlab.Lab {
	t.Helper()
	if err := faultlab.Available(); err != nil {
		testkit.Skip(t, "skipping: "+err.Error())
	}
	l, err := faultlab.New()
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, l.Close()) })
	return l
}

// Both topologies carry data both ways, over IPv4 and IPv6, to an
// in-process peer and to a peer process; the server sees the router's
// address behind the NAT.
func TestTopologies(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"bridged", "routed"} {
		for _, network := range []string{"tcp4", "tcp6"} {
			t.Run(name+"/"+network, func(t *testing.T) {
				t.Parallel()
				l := lab(t)
				var topo *faultlab.Topology
				var err error
				if name == "bridged" {
					topo, err = l.Bridged()
				} else {
					topo, err = l.Routed(faultlab.NAT{Unknown: faultlab.Drop})
				}
				require.NoError(t, err)
				d := net.Dialer{KeepAlive: -1}
				c, s, err := topo.Pair(d.DialContext, network)
				require.NoError(t, err)
				defer c.Close()
				defer s.Close()
				_, err = c.Write([]byte("ping"))
				require.NoError(t, err)
				buf := make([]byte, 4)
				require.NoError(t, s.SetDeadline(time.Now().Add(5*time.Second)))
				_, err = io.ReadFull(s, buf)
				require.NoError(t, err)
				require.Equal(t, "ping", string(buf))
				host, _, _ := net.SplitHostPort(s.RemoteAddr().String())
				if name == "routed" {
					require.NotEqual(t, topo.PeerIP(faultlab.Server, network), host, "masqueraded")
				} else {
					require.Equal(t, topo.PeerIP(faultlab.Server, network), host)
				}

				p, err := topo.StartPeer(network, faultlab.Reads)
				require.NoError(t, err)
				c2, err := topo.Dial(d.DialContext, network, p.Addr)
				require.NoError(t, err)
				defer c2.Close()
				require.NoError(t, p.Ready())
				_, err = c2.Write([]byte("ping"))
				require.NoError(t, err)
			})
		}
	}
}
