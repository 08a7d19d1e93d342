//go:build !linux

package faultlab

import "errors"

// Available reports why the lab cannot run here: it needs Linux.
func Available() error {
	return errors.New("faultlab: network namespaces need Linux")
}
