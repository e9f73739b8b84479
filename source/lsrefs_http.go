package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
)

// Smart-HTTP content types of upload-pack.
const (
	uploadPackAdvertisement = "application/x-git-upload-pack-advertisement"
	uploadPackRequest       = "application/x-git-upload-pack-request"
	uploadPackResult        = "application/x-git-upload-pack-result"
)

// listHTTP lists over smart HTTP. A server known to speak v2 gets the
// ls-refs command straight away (one POST; http-backend and the hosting
// services treat every request on its own); otherwise, or when that
// fails, the capability advertisement comes first, and a v0 server's
// advertisement is the answer.
func (l *refLister) listHTTP(ctx context.Context, names []string) (map[string]plumbing.Hash, string, error) {
	l.mu.Lock()
	direct := !l.discover
	l.mu.Unlock()
	if direct {
		refs, err := l.postLsRefs(ctx, names)
		if err == nil {
			return refs, ProtocolV2, nil
		}
		if !worthDiscovery(ctx, err) {
			return nil, "", err
		}
		l.setDiscover(true)
	}
	caps, adv, err := l.getCapabilities(ctx)
	if err != nil {
		return nil, "", err
	}
	if adv != nil {
		return adv, ProtocolV0, nil
	}
	if !hasCapability(caps, "ls-refs") {
		return nil, "", errors.New("protocol v2 server without ls-refs")
	}
	refs, err := l.postLsRefs(ctx, names)
	if err != nil {
		return nil, "", err
	}
	l.setDiscover(false)
	return refs, ProtocolV2, nil
}

func (l *refLister) setDiscover(v bool) {
	l.mu.Lock()
	l.discover = v
	l.mu.Unlock()
}

// worthDiscovery says whether a failed direct ls-refs may work after the
// capability advertisement: not when the server is unreachable or refused
// the credentials, or the poll ran out of time.
func worthDiscovery(ctx context.Context, err error) bool {
	var netErr net.Error
	switch {
	case ctx.Err() != nil, errors.As(err, &netErr), errors.Is(err, errUseGoGit),
		errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed),
		errors.Is(err, transport.ErrRepositoryNotFound):
		return false
	}
	return true
}

// getCapabilities asks for the capability advertisement with protocol v2:
// the capability list, or a v0 server's ref advertisement.
func (l *refLister) getCapabilities(ctx context.Context) ([]string, map[string]plumbing.Hash, error) {
	url := l.base() + "/info/refs?service=" + transport.UploadPackServiceName
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, err
	}
	l.prepare(req)
	res, err := l.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer drain(res.Body)
	if err := checkResponse(res, uploadPackAdvertisement); err != nil {
		return nil, nil, err
	}
	return readGreeting(res.Body)
}

// postLsRefs sends the ls-refs command for names.
func (l *refLister) postLsRefs(ctx context.Context, names []string) (map[string]plumbing.Hash, error) {
	body := lsRefsRequest(names)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.base()+"/"+transport.UploadPackServiceName, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	l.prepare(req)
	req.Header.Set("Content-Type", uploadPackRequest)
	req.Header.Set("Accept", uploadPackResult)
	readOnly(req)
	res, err := l.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer drain(res.Body)
	if err := checkResponse(res, uploadPackResult); err != nil {
		return nil, err
	}
	return readLsRefs(res.Body)
}

// readOnly marks an upload-pack POST (ls-refs, fetch) as safe to send
// again: net/http then resends it once, on a new connection, when a
// kept-alive connection that the server closed as the request came fails
// it with no response (a server's keep-alive timeout meeting a poll). The
// header, set to nothing, is not sent. Pushes are never marked: they
// handle that case themselves (pushHTTP).
func readOnly(req *http.Request) {
	req.Header["X-Idempotency-Key"] = nil
}

// prepare sets the headers every request carries.
func (l *refLister) prepare(req *http.Request) {
	req.Header.Set("User-Agent", capability.DefaultAgent())
	req.Header.Set("Git-Protocol", "version=2")
	if a, ok := l.auth.(githttp.AuthMethod); ok && a != nil {
		a.SetAuth(req)
	}
}

// base is the repository URL without a trailing slash or credentials.
func (l *refLister) base() string {
	ep := *l.ep
	ep.User, ep.Password = "", ""
	return strings.TrimSuffix(ep.String(), "/")
}

// checkResponse turns an HTTP failure into go-git's errors (401, 403 and
// 404 into its sentinels) and refuses an answer that is not from a smart
// server. A redirect is left to go-git.
func checkResponse(res *http.Response, contentType string) error {
	if res.StatusCode >= 300 && res.StatusCode < 400 {
		return errUseGoGit
	}
	if err := githttp.NewErr(res); err != nil {
		return err
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, contentType) {
		return fmt.Errorf("not a smart git server: content type %q, want %s", ct, contentType)
	}
	return nil
}

// drain reads what is left of a body (a little at most) so that the
// connection can be reused, and closes it.
func drain(body io.ReadCloser) {
	io.Copy(io.Discard, io.LimitReader(body, 64<<10))
	body.Close()
}
