package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/pktline"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// pushStream updates the node's ref from w.head to commit over
// receive-pack's own stream (ssh://, git://, file://), on the writer's
// counted connection: receive-pack advertises every ref of the
// repository, the writer checks that its ref is still at w.head, sends
// the command and the pack, and reads the server's report.
func (w *StatusWriter) pushStream(ctx context.Context, commit plumbing.Hash, pack []byte) error {
	st, err := w.refs.openService(ctx, transport.ReceivePackServiceName)
	if err != nil {
		return err
	}
	err = func() error {
		ar := packp.NewAdvRefs()
		if err := ar.Decode(st.r); err != nil && !errors.Is(err, packp.ErrEmptyAdvRefs) {
			return err
		}
		if cur := ar.References[w.ref.String()]; cur != w.head {
			st.w.Write(pktline.FlushPkt) // nothing to update: the server ends
			return fmt.Errorf("%w: at %s, expected %s", errMoved, short(cur.String()), short(w.head.String()))
		}
		req := packp.NewReferenceUpdateRequestFromCapabilities(ar.Capabilities)
		req.Commands = []*packp.Command{{Name: w.ref, Old: w.head, New: commit}}
		req.Packfile = io.NopCloser(bytes.NewReader(pack))
		if err := req.Encode(st.w); err != nil {
			return err
		}
		if !req.Capabilities.Supports(capability.ReportStatus) {
			return nil
		}
		return readPushResult(st.r)
	}()
	if cerr := st.close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil && !errors.Is(err, errMoved) {
		return st.explain(ctx, err)
	}
	return err
}
