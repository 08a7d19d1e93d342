module github.com/keepalive-go/keepalive/cmd/keepalive

go 1.26.0

require (
	github.com/keepalive-go/keepalive v0.1.0
	github.com/stretchr/testify v1.12.1
	github.com/vishvananda/netlink v1.3.1
	golang.org/x/sys v0.49.0
)

require github.com/vishvananda/netns v0.0.5 // indirect
