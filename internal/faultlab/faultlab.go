// Package faultlab reproduces the ways a TCP peer really dies, in network
// namespaces joined by veth pairs: a client and a server namespace behind a
// bridge or a router (with masquerade and conntrack), and faults injected
// with ip and nft: links down or deleted, routes changed, packets dropped or
// rejected, a peer process that stops reading, is stopped or is killed. It
// needs Linux, root (CAP_NET_ADMIN) and the ip (iproute2) and nft (nftables)
// commands; Available says what is missing. Every address it uses lives
// inside the namespaces it made.
package faultlab
