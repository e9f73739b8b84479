package main

import (
	"context"
	"errors"
	"net"

	"github.com/gitfleet/gitfleet/fault"
	"github.com/gitfleet/gitfleet/image"
	"github.com/gitfleet/gitfleet/source"
)

// isUnreachable reports whether err says that a server could not be
// reached or did not answer usefully (a registry or git server down, a
// connection refused or cut, a 5xx, a timeout), as opposed to a refusal: a
// registry that answered "no such image" or "unsigned", a git server that
// rejected the credentials. Retrying later may give another answer.
func isUnreachable(err error) bool {
	if err == nil {
		return false
	}
	var se *source.Error
	if errors.As(err, &se) {
		return se.Transient
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	if fault.ClassOf(err) != fault.Transient {
		return false
	}
	var oe *net.OpError
	var de *net.DNSError
	var ue *image.UnavailableError
	var ne net.Error
	return errors.As(err, &oe) || errors.As(err, &de) || errors.As(err, &ue) || errors.As(err, &ne) && ne.Timeout()
}
