module github.com/keepalive-go/keepalive/bench/peers

go 1.26.0

replace github.com/keepalive-go/keepalive => ../..

require (
	github.com/keepalive-go/keepalive v0.0.0-00010101000000-000000000000
	github.com/mikioh/tcp v0.0.0-20190314235350-803a9b46060c
	github.com/mikioh/tcpopt v0.0.0-20190314235656-172688c1accc
	github.com/stretchr/testify v1.12.1
	golang.org/x/sys v0.49.0
)

require (
	github.com/mikioh/tcpinfo v0.0.0-20190314235526-30a79bb1804b // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/net v0.62.0 // indirect
)
