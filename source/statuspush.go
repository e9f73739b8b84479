package source

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"

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

// pushHTTP updates the node's ref from w.head to commit in one POST to
// git-receive-pack, without asking for the ref advertisement first (with
// thousands of status refs, that advertisement is most of a push's bytes).
// Smart HTTP is stateless: receive-pack checks that the ref is still at
// w.head as it updates it, so a writer that raced this one is refused
// (errMoved) exactly as after reading the advertisement. It returns
// errUseGoGit when the server wants the usual exchange (a redirect, or a
// request refused for another reason than credentials).
func (w *StatusWriter) pushHTTP(ctx context.Context, commit plumbing.Hash, pack []byte) error {
	req := packp.NewReferenceUpdateRequest()
	for _, c := range []capability.Capability{capability.ReportStatus, capability.Agent} {
		var err error
		if c == capability.Agent {
			err = req.Capabilities.Set(c, capability.DefaultAgent())
		} else {
			err = req.Capabilities.Set(c)
		}
		if err != nil {
			return err
		}
	}
	req.Commands = []*packp.Command{{Name: w.ref, Old: w.head, New: commit}}
	req.Packfile = io.NopCloser(bytes.NewReader(pack))
	var body bytes.Buffer
	if err := req.Encode(&body); err != nil {
		return err
	}
	l := w.refs
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, l.base()+"/"+transport.ReceivePackServiceName, &body)
	if err != nil {
		return err
	}
	l.prepare(hreq)
	hreq.Header.Del("Git-Protocol") // receive-pack has no protocol v2
	hreq.Header.Set("Content-Type", receivePackRequest)
	hreq.Header.Set("Accept", receivePackResult)
	res, err := l.client.Do(hreq)
	if err != nil {
		return err
	}
	defer drain(res.Body)
	if err := checkResponse(res, receivePackResult); err != nil {
		if worthDiscovery(ctx, err) {
			return fmt.Errorf("%w: %w", errUseGoGit, err)
		}
		return err
	}
	return readPushResult(res.Body)
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
