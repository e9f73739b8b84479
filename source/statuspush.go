package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"syscall"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// Smart-HTTP content types of receive-pack.
const (
	receivePackRequest = "application/x-git-receive-pack-request"
	receivePackResult  = "application/x-git-receive-pack-result"
)

// MsgPushResent is the log message of a status push sent again on a new
// connection because the server closed the kept-alive one under it.
const MsgPushResent = "status push: the server closed the kept-alive connection, sending again"

// pushHTTP updates the node's ref from w.head to commit in one POST to
// git-receive-pack, without asking for the ref advertisement first (with
// thousands of status refs, that advertisement is most of a push's bytes).
// Smart HTTP is stateless: receive-pack checks that the ref is still at
// w.head as it updates it, so a writer that raced this one is refused
// (errMoved) exactly as after reading the advertisement. It returns
// errUseGoGit when the server wants the usual exchange (a redirect, or a
// request refused for another reason than credentials).
//
// A request sent on a kept-alive connection that the server had closed
// (it ends in EOF or a reset, with no response) is sent once more, on a
// new connection. That is safe: the update is a compare-and-swap of the
// node's own ref, so a first request that did land makes the second fail
// on its old id, and the ref then already holds commit: pushed.
func (w *StatusWriter) pushHTTP(ctx context.Context, commit plumbing.Hash, pack []byte) error {
	stale, err := w.postPush(ctx, commit, pack)
	if !stale {
		return err
	}
	w.log.Info(MsgPushResent, logErr, err)
	w.refs.client.CloseIdleConnections()
	_, err = w.postPush(ctx, commit, pack)
	if errors.Is(err, errMoved) {
		if refs, lerr := w.refs.list(ctx, w.ref.String()); lerr == nil && refs[w.ref.String()] == commit {
			return nil // the first request landed
		}
	}
	return err
}

// postPush is one POST of pushHTTP; stale says it failed on a reused
// connection that the server had closed.
func (w *StatusWriter) postPush(ctx context.Context, commit plumbing.Hash, pack []byte) (stale bool, err error) {
	req := packp.NewReferenceUpdateRequest()
	for _, c := range []capability.Capability{capability.ReportStatus, capability.Agent} {
		var err error
		if c == capability.Agent {
			err = req.Capabilities.Set(c, capability.DefaultAgent())
		} else {
			err = req.Capabilities.Set(c)
		}
		if err != nil {
			return false, err
		}
	}
	req.Commands = []*packp.Command{{Name: w.ref, Old: w.head, New: commit}}
	req.Packfile = io.NopCloser(bytes.NewReader(pack))
	var body bytes.Buffer
	if err := req.Encode(&body); err != nil {
		return false, err
	}
	l := w.refs
	var reused bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }})
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, l.base()+"/"+transport.ReceivePackServiceName, &body)
	if err != nil {
		return false, err
	}
	l.prepare(hreq)
	hreq.Header.Del("Git-Protocol") // receive-pack has no protocol v2
	hreq.Header.Set("Content-Type", receivePackRequest)
	hreq.Header.Set("Accept", receivePackResult)
	res, err := l.client.Do(hreq)
	if err != nil {
		return reused && closedConn(err), err
	}
	defer drain(res.Body)
	if err := checkResponse(res, receivePackResult); err != nil {
		if worthDiscovery(ctx, err) {
			return false, fmt.Errorf("%w: %w", errUseGoGit, err)
		}
		return false, err
	}
	return false, readPushResult(res.Body)
}

// closedConn says whether err is a connection the other end closed.
func closedConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}

// readPushResult reads receive-pack's report of a push. An update the
// server refused is errMoved: the ref is not where this writer left it,
// or another writer won a race for it (git reports it only as text).
func readPushResult(r io.Reader) error {
	rs := packp.NewReportStatus()
	if err := rs.Decode(r); err != nil {
		return fmt.Errorf("read push result: %w", err)
	}
	if err := rs.Error(); err != nil {
		return fmt.Errorf("%w: %w", errMoved, err)
	}
	return nil
}
