package source

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/go-git/go-git/v5/plumbing/format/pktline"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// streamTransport is go-git's transport.Transport on the lister's own
// streams (git://, ssh://, file://), whose bytes the source counts:
// go-git's own clients dial for themselves, so the protocol v0 exchanges
// with a server that has no v2 (a fetch, a deeper history, other nodes'
// reports) would go uncounted. It speaks v0 as go-git's sessions do,
// with go-git's packp encoders and decoders; only the connection is the
// source's.
type streamTransport struct{ l *refLister }

func (t streamTransport) NewUploadPackSession(*transport.Endpoint, transport.AuthMethod) (transport.UploadPackSession, error) {
	return &streamSession{l: t.l, service: transport.UploadPackServiceName}, nil
}

func (t streamTransport) NewReceivePackSession(*transport.Endpoint, transport.AuthMethod) (transport.ReceivePackSession, error) {
	return &streamSession{l: t.l, service: transport.ReceivePackServiceName}, nil
}

// streamSession is one upload-pack or receive-pack exchange. The stream
// opens with the first call that needs it, bound to that call's context
// (which names the op its bytes count for).
type streamSession struct {
	l       *refLister
	service string
	st      *stream
	ctx     context.Context
	r       *bufio.Reader
	adv     *packp.AdvRefs
	packRun bool
	closed  bool
}

func (s *streamSession) AdvertisedReferences() (*packp.AdvRefs, error) {
	return s.AdvertisedReferencesContext(context.Background())
}

// AdvertisedReferencesContext starts the service (protocol v0: no v2 is
// asked for) and reads its ref advertisement.
func (s *streamSession) AdvertisedReferencesContext(ctx context.Context) (*packp.AdvRefs, error) {
	if s.adv != nil {
		return s.adv, nil
	}
	if s.st == nil {
		st, err := s.l.openServiceAt(ctx, s.service, false)
		if err != nil {
			return nil, err
		}
		s.st, s.ctx, s.r = st, ctx, bufio.NewReader(st.r)
	}
	receive := s.service == transport.ReceivePackServiceName
	ar := packp.NewAdvRefs()
	if err := ar.Decode(s.r); err != nil {
		switch {
		case errors.Is(err, packp.ErrEmptyAdvRefs) && receive:
			// An empty repository: nothing to advertise, pushes welcome.
		case errors.Is(err, packp.ErrEmptyAdvRefs):
			return nil, transport.ErrEmptyRemoteRepository
		default:
			return nil, s.st.explain(ctx, err)
		}
	}
	if !receive && ar.IsEmpty() {
		return nil, transport.ErrEmptyRemoteRepository
	}
	transport.FilterUnsupportedCapabilities(ar.Capabilities)
	s.adv = ar
	return ar, nil
}

// UploadPack sends req (wants, shallows, depth, haves and "done": no
// negotiation, as go-git's sessions do) and returns the answer, whose
// reader is the pack (still multiplexed if req asked for side-band).
func (s *streamSession) UploadPack(ctx context.Context, req *packp.UploadPackRequest) (*packp.UploadPackResponse, error) {
	if req.IsEmpty() {
		return nil, transport.ErrEmptyUploadPackRequest
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	if _, err := s.AdvertisedReferencesContext(ctx); err != nil {
		return nil, err
	}
	s.packRun = true
	w := s.st.w
	if err := req.UploadRequest.Encode(w); err != nil {
		return nil, s.st.explain(ctx, fmt.Errorf("send upload request: %w", err))
	}
	if err := req.UploadHaves.Encode(w, true); err != nil {
		return nil, s.st.explain(ctx, fmt.Errorf("send haves: %w", err))
	}
	if err := pktline.NewEncoder(w).EncodeString("done\n"); err != nil {
		return nil, s.st.explain(ctx, fmt.Errorf("send done: %w", err))
	}
	if _, err := s.r.Peek(1); err != nil {
		return nil, s.st.explain(ctx, fmt.Errorf("read upload-pack answer: %w", unexpected(err)))
	}
	res := packp.NewUploadPackResponse(req)
	if err := res.Decode(sessionCloser{Reader: s.r, s: s}); err != nil {
		return nil, s.st.explain(ctx, err)
	}
	return res, nil
}

// ReceivePack sends the update commands and the pack and reads the
// server's report, as go-git's sessions do.
func (s *streamSession) ReceivePack(ctx context.Context, req *packp.ReferenceUpdateRequest) (*packp.ReportStatus, error) {
	if _, err := s.AdvertisedReferencesContext(ctx); err != nil {
		return nil, err
	}
	s.packRun = true
	if err := req.Encode(s.st.w); err != nil {
		return nil, s.st.explain(ctx, err)
	}
	if !req.Capabilities.Supports(capability.ReportStatus) {
		return nil, s.Close()
	}
	report := packp.NewReportStatus()
	if err := report.Decode(demux(req.Capabilities, s.r)); err != nil {
		return nil, s.st.explain(ctx, err)
	}
	if err := report.Error(); err != nil {
		s.Close()
		return report, err
	}
	return report, s.Close()
}

// Close ends the exchange: a session that ran no upload or receive ends
// it with a flush-pkt, as git expects, then the stream is closed.
func (s *streamSession) Close() error {
	if s.closed || s.st == nil {
		return nil
	}
	s.closed = true
	if !s.packRun {
		s.st.w.Write(pktline.FlushPkt)
	}
	if err := s.st.close(); err != nil {
		return s.st.explain(s.ctx, err)
	}
	return nil
}

// sessionCloser is the answer's reader: closing it closes the session.
type sessionCloser struct {
	io.Reader
	s *streamSession
}

func (c sessionCloser) Close() error { return c.s.Close() }
