package layers_test

import (
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/keepalive-go/keepalive/layers"
)

// Dead within 30 s, behind a load balancer that forgets flows idle for
// 350 s: TCP on the dialer, HTTP/2's pings on the transport.
func ExampleWithin() {
	p, err := layers.Within(30*time.Second, 350*time.Second)
	if err != nil {
		log.Fatal(err)
	}
	tr := &http.Transport{
		DialContext: p.TCP.Dialer(nil).DialContext,
		HTTP2:       &p.HTTP2Transport,
	}
	_ = &http.Client{Transport: tr}
	fmt.Printf("TCP %+v\nheartbeat %+v, HTTP/2 within %v\n", p.TCP, p.Heartbeat, p.HTTP2Max)
}
