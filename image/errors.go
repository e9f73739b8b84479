package image

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/gitfleet/gitfleet/fault"
)

// ErrRefused matches (errors.Is) every refusal (a *RefusedError, of class
// fault.Refused): the image is unsigned,
// signed by no trusted key, signed for another digest, only attested, not
// what its digest says, or too large to read. Retrying does not help; a new
// signature or a new reference does.
var ErrRefused = errors.New("image refused")

// RefusedError says why an image was refused. It matches ErrRefused.
type RefusedError struct {
	Ref    string   // the reference as given
	Digest string   // the image digest, "" when it was not resolved
	Keys   []string // the names of the keys tried
	Reason string
	// Details say, one line per signature found, why it did not count.
	Details []string
}

func (e *RefusedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "image %s", e.Ref)
	if e.Digest != "" && !strings.HasSuffix(e.Ref, e.Digest) {
		fmt.Fprintf(&b, " (%s)", e.Digest)
	}
	fmt.Fprintf(&b, " refused: %s", e.Reason)
	if len(e.Keys) > 0 {
		fmt.Fprintf(&b, " (keys tried: %s)", strings.Join(e.Keys, ", "))
	}
	if len(e.Details) > 0 {
		fmt.Fprintf(&b, ": %s", strings.Join(e.Details, "; "))
	}
	return b.String()
}

// Is makes errors.Is(err, ErrRefused) hold.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

// Fault classifies a refusal: fault.Refused.
func (e *RefusedError) Fault() fault.Class { return fault.Refused }

// UnavailableError is a registry answering with a server error (5xx) or
// asking the client to slow down (429). It satisfies net.Error, like a
// connection that could not be made, so callers retry both alike.
type UnavailableError struct {
	Host   string
	Status int
	Err    error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("registry %s unavailable: %d %s", e.Host, e.Status, http.StatusText(e.Status))
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// Timeout reports false: the registry answered.
func (e *UnavailableError) Timeout() bool { return false }

// Temporary reports true.
func (e *UnavailableError) Temporary() bool { return true }

// Fault classifies an unavailable registry: fault.Transient.
func (e *UnavailableError) Fault() fault.Class { return fault.Transient }

// errTooLarge is a manifest or blob over its cap.
var errTooLarge = errors.New("over the size cap")

// unavailable turns server errors from go-containerregistry's transport
// (its ping) into UnavailableError; others pass unchanged.
func unavailable(host string, err error) error {
	var te *transport.Error
	if errors.As(err, &te) && isUnavailable(te.StatusCode) {
		return &UnavailableError{Host: host, Status: te.StatusCode, Err: err}
	}
	return err
}

func isUnavailable(status int) bool {
	return status >= 500 || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout
}

// transient reports whether err is worth retrying rather than a refusal.
func transient(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// statusError is an answer that is neither the content nor a sign of an
// unreachable registry (401, 403…): not a refusal of the image's
// signatures.
type statusError struct {
	host   string
	status int
}

func (e *statusError) Error() string {
	msg := fmt.Sprintf("registry %s answered %d %s", e.host, e.status, http.StatusText(e.status))
	if e.status == http.StatusUnauthorized {
		msg += ": no login for this registry or a wrong one (registry config: fleetd --registry-config, fleetctl --registry-config)"
	}
	return msg
}

// Fault classifies the answer: credentials the registry rejects are
// refused (retrying cannot help until someone fixes them); any other is
// transient.
func (e *statusError) Fault() fault.Class {
	if e.status == http.StatusUnauthorized || e.status == http.StatusForbidden {
		return fault.Refused
	}
	return fault.Transient
}

// errBadContent is content that is not what was asked for: bytes that do
// not match their digest, JSON that does not parse.
var errBadContent = errors.New("bad content")

// isCandidateRefusal reports whether err refuses one candidate (a
// signature, a referrer) rather than failing the whole check: the store
// does not hold it, or holds something oversized or wrong.
func isCandidateRefusal(err error) bool {
	return errors.Is(err, ErrNotFound) || errors.Is(err, errTooLarge) || errors.Is(err, errBadContent)
}

// joined is errors.Join written on one line: each source's failure, in
// the order they were tried.
type joined []error

func (j joined) Error() string {
	msgs := make([]string, len(j))
	for i, err := range j {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (j joined) Unwrap() []error { return j }

func joinErrors(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return joined(errs)
}
