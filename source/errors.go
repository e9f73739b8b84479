package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/gitfleet/gitfleet/fault"
)

// Errors a caller may test for with errors.Is.
var (
	// ErrBranchNotFound: the remote does not have the tracked branch.
	ErrBranchNotFound = errors.New("branch not found")
	// ErrRevisionNotFound: the requested commit is not the branch head
	// and not present locally (the branch moved again; poll again).
	ErrRevisionNotFound = errors.New("revision not found")
)

// Error is a failed exchange with a remote. It names the operation, the
// URL without credentials and the ref, and says whether a retry may help.
//
// Transient errors (the server is down or slow, the network broke, the
// branch moved under a fetch, an HTTP 5xx) are worth retrying with
// backoff. Permanent ones (authentication or authorization refused, the
// repository or branch does not exist, the host key does not match) need
// someone to change the configuration or the remote. Unknown errors count
// as transient: a retry costs one more request.
//
// Its class (fault.ClassOf) is fault.Transient or, for a permanent error,
// fault.Refused.
type Error struct {
	Op        string // "poll", "fetch", "push"
	URL       string // the Location, without credentials
	Ref       string // "refs/heads/main", or a commit
	Transient bool
	Err       error

	secrets []string // removed from Err's text
}

func (e *Error) Error() string {
	msg := e.Err.Error()
	for _, s := range e.secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "***")
		}
	}
	return fmt.Sprintf("%s %s %s: %s", e.Op, e.URL, e.Ref, msg)
}

func (e *Error) Unwrap() error { return e.Err }

// Fault classifies e: fault.Transient when retrying may succeed, else
// fault.Refused.
func (e *Error) Fault() fault.Class {
	if e.Transient {
		return fault.Transient
	}
	return fault.Refused
}

// remoteError wraps err, which came from talking to l about ref.
func remoteError(op string, l Location, ref string, err error) error {
	if err == nil {
		return nil
	}
	// x/crypto/ssh reports a refused key only as text; give it the same
	// sentinel as HTTP's 401.
	if strings.Contains(err.Error(), "ssh: unable to authenticate") {
		err = fmt.Errorf("%w: %w", transport.ErrAuthenticationRequired, err)
	}
	return &Error{
		Op:        op,
		URL:       l.String(),
		Ref:       ref,
		Transient: transient(err),
		Err:       err,
		secrets:   l.secrets(),
	}
}

// transient classifies an error from go-git's transports.
func transient(err error) bool {
	var keyErr *knownhosts.KeyError
	var revoked *knownhosts.RevokedError
	var httpErr *githttp.Err
	switch {
	case errors.Is(err, context.Canceled):
		return false
	case errors.Is(err, context.DeadlineExceeded):
		return true
	case errors.Is(err, transport.ErrAuthenticationRequired),
		errors.Is(err, transport.ErrAuthorizationFailed),
		errors.Is(err, transport.ErrInvalidAuthMethod),
		errors.Is(err, transport.ErrRepositoryNotFound),
		errors.Is(err, transport.ErrEmptyRemoteRepository),
		errors.Is(err, ErrBranchNotFound), errors.Is(err, ErrIncomplete),
		errors.As(err, &keyErr), errors.As(err, &revoked):
		return false
	case errors.As(err, &httpErr):
		c := httpErr.StatusCode()
		return c >= 500 || c == 429 || c == 408
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	// Servers reached over file:// and git:// report these only as text.
	if msg := err.Error(); strings.Contains(msg, "repository not found") ||
		strings.Contains(msg, "does not appear to be a git repository") {
		return false
	}
	return true
}
