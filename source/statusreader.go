package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/gitfleet/gitfleet/status"
)

// statusRefs names the status refs in errors.
const statusRefs = "refs/heads/status/*"

// Reports returns the latest report of each of nodes, read from its ref
// refs/heads/status/<node> on the writer's remote, keyed by node name. A
// node without a ref, or whose report cannot be read (not a NodeStatus,
// naming another node), is absent; such reports are logged at debug level
// and do not fail the call.
//
// It costs one ref advertisement and, when some of those refs point at
// commits not yet in the writer's store, one depth-1 fetch of just those
// commits in the same session (stored as refs/remotes/status/<node>).
// Commits already fetched are not fetched again, so polling an unchanged
// set of reports costs the advertisement alone. Bounded by
// StatusConfig.Timeout.
func (w *StatusWriter) Reports(ctx context.Context, nodes []string) (map[string]*status.NodeStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(nodes) == 1 && nodes[0] == w.cfg.Node {
		return w.ownReport(ctx) // what this writer committed last
	}

	fail := func(err error) error { return remoteError("fetch", w.cfg.URL, statusRefs, w.cfg.Auth, err) }
	c, ep, err := newClient(w.cfg.URL)
	if err != nil {
		return nil, fail(err)
	}
	sess, err := c.NewUploadPackSession(ep, w.auth)
	if err != nil {
		return nil, fail(err)
	}
	defer sess.Close()
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return map[string]*status.NodeStatus{}, nil
	}
	if err != nil {
		return nil, fail(err)
	}

	heads := map[string]plumbing.Hash{} // node → its report's commit
	for _, n := range nodes {
		if !nodeName.MatchString(n) || strings.HasSuffix(n, ".lock") || strings.Contains(n, "..") {
			continue // no StatusWriter can have written it
		}
		if h, ok := ar.References[statusRef(n).String()]; ok {
			heads[n] = h
		}
	}
	if len(heads) == 0 {
		return map[string]*status.NodeStatus{}, nil
	}

	st, err := openStore(w.cfg.Dir)
	if err != nil {
		return nil, err
	}
	if st.packs() >= maxPacks {
		if st, err = recreateStore(w.cfg.Dir); err != nil {
			return nil, err
		}
	}
	var wants []plumbing.Hash
	for _, h := range heads {
		if _, err := st.s.EncodedObject(plumbing.CommitObject, h); err != nil && !slices.Contains(wants, h) {
			wants = append(wants, h)
		}
	}
	if len(wants) > 0 {
		if err := w.fetchReports(ctx, sess, ar, st, wants); err != nil {
			return nil, fail(err)
		}
	}

	reports := make(map[string]*status.NodeStatus, len(heads))
	for n, h := range heads {
		ref := statusRef(n)
		if cur, err := st.s.Reference(remoteStatusRef(n)); err != nil || cur.Hash() != h {
			if err := st.s.SetReference(plumbing.NewHashReference(remoteStatusRef(n), h)); err != nil {
				return nil, fmt.Errorf("status: store %s: %w", ref, err)
			}
		}
		rep, err := readReport(st, h, n)
		if err != nil {
			w.log.Debug("status report unreadable", logRef, ref.String(), logRev, short(h.String()), logErr, err)
			continue
		}
		reports[n] = rep
	}
	return reports, nil
}

// fetchReports asks the session that advertised ar for wants at depth 1
// and stores the pack and the new shallow boundary in st.
func (w *StatusWriter) fetchReports(ctx context.Context, sess transport.UploadPackSession, ar *packp.AdvRefs, st *store, wants []plumbing.Hash) (err error) {
	st.cleanTemp()
	req := packp.NewUploadPackRequestFromCapabilities(ar.Capabilities)
	req.Wants = wants
	req.Depth = packp.DepthCommits(1)
	if err := req.Capabilities.Set(capability.Shallow); err != nil {
		return err
	}
	if ar.Capabilities.Supports(capability.NoProgress) {
		if err := req.Capabilities.Set(capability.NoProgress); err != nil {
			return err
		}
	}
	if req.Shallows, err = st.s.Shallow(); err != nil {
		return err
	}
	resp, err := sess.UploadPack(ctx, req)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := resp.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	shallows := req.Shallows
	for _, h := range resp.Shallows {
		if !slices.Contains(shallows, h) {
			shallows = append(shallows, h)
		}
	}
	if err := st.s.SetShallow(shallows); err != nil {
		return err
	}
	var pack io.Reader = resp
	switch {
	case req.Capabilities.Supports(capability.Sideband64k):
		pack = sideband.NewDemuxer(sideband.Sideband64k, resp)
	case req.Capabilities.Supports(capability.Sideband):
		pack = sideband.NewDemuxer(sideband.Sideband, resp)
	}
	return packfile.UpdateObjectStorage(st.s, pack)
}

// readReport reads status/<node>.yaml from commit h.
func readReport(st *store, h plumbing.Hash, node string) (*status.NodeStatus, error) {
	c, err := object.GetCommit(st.s, h)
	if err != nil {
		return nil, err
	}
	data, err := (&treeFS{mu: &sync.Mutex{}, s: st.s, root: c.TreeHash}).ReadFile("status/" + node + ".yaml")
	if err != nil {
		return nil, err
	}
	rep, err := status.Unmarshal(data)
	if err != nil {
		return nil, err
	}
	if rep.Metadata.Name != node {
		return nil, fmt.Errorf("report names node %q", rep.Metadata.Name)
	}
	return rep, nil
}

func statusRef(node string) plumbing.ReferenceName {
	return plumbing.NewBranchReferenceName("status/" + node)
}

func remoteStatusRef(node string) plumbing.ReferenceName {
	return plumbing.ReferenceName("refs/remotes/status/" + node)
}
