package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	goruntime "runtime"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/gitfleet/gitfleet/status"
)

const (
	// statusPrefix is where each node's ref lives: refs/heads/status/<node>.
	statusPrefix = "refs/heads/status/"
	// statusRefs names the status refs in errors.
	statusRefs = statusPrefix + "*"
	// maxReport bounds one status report.
	maxReport = 1 << 20
	// sshConnectTimeout bounds an ssh connection's setup for callers that
	// give no timeout of their own.
	sshConnectTimeout = 30 * time.Second
)

// Report is one node's latest status report, as its ref holds it.
type Report struct {
	// Commit is the status ref's commit; Committed, its committer time.
	Commit    string
	Committed time.Time
	// Signature is the commit's gpgsig header ("" when unsigned) and
	// Signed the bytes it signs (the commit without that header), for
	// trust.VerifyReport against the node's enrolled status key.
	Signature string
	Signed    []byte
	// Status is the report, nil when Err says why it could not be read. It
	// may name another node than its ref's: the caller decides.
	Status *status.NodeStatus
	Err    error
}

// ReadReports reads the latest status report of every node from the
// status refs (refs/heads/status/<node>) at loc, keyed by node name: one
// ref advertisement and one depth-1 fetch of the reports' commits into
// memory, in the same session. A report that cannot be read is returned
// with its Err and does not fail the call; a repository without status
// refs (or an empty one) yields none. fleetctl status and the overview use
// it; the agent's rollout gates use StatusWriter.Reports, the same
// exchange with the commits kept on disk between polls.
func ReadReports(ctx context.Context, loc Location) (map[string]Report, error) {
	auth, err := authMethod(loc, sshConnectTimeout)
	if err != nil {
		return nil, fmt.Errorf("status %s: %w", loc, err)
	}
	lister, err := newRefLister(loc, auth, sshConnectTimeout, nil)
	if err != nil {
		return nil, fmt.Errorf("status %s: %w", loc, err)
	}
	mem := func() (storage.Storer, error) { return newReportStore(), nil }
	return readReports(ctx, loc, auth, lister, nil, mem, nil)
}

// Reports returns the latest report of each of nodes, read from its ref
// refs/heads/status/<node> on the writer's remote, keyed by node name
// (reconciler.ReportReader, for rollout gates). A node without a ref, or
// whose report cannot be read (not a NodeStatus, naming another node), is
// absent; such reports are logged at debug level and do not fail the call.
// Each report's Trust is StatusConfig.CheckReport's answer for it, given
// the status key statusKeys holds for its node ("" when none): untrusted
// without a CheckReport. The writer's own node alone is answered from what
// it committed last, trusted.
//
// It is ReadReports' exchange with the commits kept in the writer's store:
// one ref advertisement and, when some of those refs point at commits not
// yet fetched, one depth-1 fetch of just those commits in the same
// session. Each report is kept as read and checked, by its ref's commit
// and the status key it was checked against, for the nodes asked for in
// the last calls: polling an unchanged set of reports costs the
// advertisement alone, with no decode and no signature check. Bounded by
// StatusConfig.Timeout.
func (w *StatusWriter) Reports(ctx context.Context, nodes []string, statusKeys map[string]string) (map[string]*status.NodeStatus, error) {
	ctx, cancel := context.WithTimeout(withOp(ctx, OpReports), w.cfg.Timeout)
	defer cancel()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(nodes) == 1 && nodes[0] == w.cfg.Node {
		return w.ownReport(ctx) // what this writer committed last
	}
	open := func() (storage.Storer, error) {
		st, err := openStore(w.cfg.Dir)
		if err == nil && st.packs() >= maxPacks {
			st, err = recreateStore(w.cfg.Dir)
		}
		if err != nil {
			return nil, err
		}
		st.cleanTemp()
		return st.s, nil
	}
	w.reports.calls++
	var same []string // nodes whose report is cached for their ref's commit
	reps, err := readReports(ctx, w.cfg.Location, w.auth, w.refs, nodes, open, func(n string, h plumbing.Hash) bool {
		if w.reports.same(n, h) {
			same = append(same, n)
			return true
		}
		return false
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]*status.NodeStatus, len(reps)+len(same))
	for _, n := range same {
		if st := w.answer(n, statusKeys[n]); st != nil {
			out[n] = st
		}
	}
	for n, r := range reps {
		if st := w.remember(n, statusKeys[n], r); st != nil {
			out[n] = st
		}
	}
	w.reports.evict()
	return out, nil
}

// readReports is the one exchange that reads status reports: the status
// refs asked for with protocol v2's ls-refs (ref-prefix refs/heads/status/,
// or each wanted node's ref), so that the answer holds no other ref, then,
// when some of them point at commits the store lacks, one depth-1 v2
// fetch of just those commits (remembered as refs/remotes/status/<node>).
// A server without v2 gets protocol v0: its whole ref advertisement and a
// fetch in the same session. nodes nil means every status ref; else only
// theirs (names no StatusWriter could have written are skipped). open
// gives the store, and is called only when a report exists. cached, when
// set, names the reports the caller holds already for their ref's commit:
// they are left out.
func readReports(ctx context.Context, loc Location, auth transport.AuthMethod, lister *refLister, nodes []string, open func() (storage.Storer, error), cached func(node string, h plumbing.Hash) bool) (map[string]Report, error) {
	fail := func(err error) error { return remoteError("fetch", loc, statusRefs, err) }
	if loc.inProcess {
		reports, err := readReportsInProcess(loc, nodes)
		if err != nil {
			return nil, fail(err)
		}
		return reports, nil
	}
	prefixes := []string{statusPrefix}
	if nodes != nil {
		if prefixes = reportPrefixes(nodes); len(prefixes) == 0 {
			return map[string]Report{}, nil
		}
	}
	refs, err := lister.listPrefixes(ctx, prefixes...)
	if err != nil {
		return nil, fail(err)
	}
	heads := map[string]plumbing.Hash{} // node → its report's commit
	if nodes == nil {
		for ref, h := range refs {
			if node, ok := strings.CutPrefix(ref, statusPrefix); ok && node != "" {
				heads[node] = h
			}
		}
	}
	for _, n := range nodes {
		if !validNode(n) {
			continue
		}
		if h, ok := refs[statusRef(n).String()]; ok {
			heads[n] = h
		}
	}
	for n, h := range heads {
		if cached != nil && cached(n, h) {
			delete(heads, n)
		}
	}
	if len(heads) == 0 {
		return map[string]Report{}, nil
	}

	st, err := open()
	if err != nil {
		return nil, err
	}
	if rs, ok := st.(*reportStore); ok {
		rs.expect(heads)
	}
	var wants []plumbing.Hash
	seen := make(map[plumbing.Hash]bool, len(heads))
	for _, h := range heads {
		if seen[h] {
			continue
		}
		seen[h] = true
		if _, err := st.EncodedObject(plumbing.CommitObject, h); err != nil {
			wants = append(wants, h)
		}
	}
	if len(wants) > 0 {
		if err := fetchReports(ctx, loc, auth, lister, st, wants); err != nil {
			return nil, fail(err)
		}
	}

	nodesOf := make([]string, 0, len(heads))
	for n, h := range heads {
		remote := plumbing.ReferenceName("refs/remotes/status/" + n)
		if cur, err := st.Reference(remote); err != nil || cur.Hash() != h {
			if err := st.SetReference(plumbing.NewHashReference(remote, h)); err != nil {
				return nil, fmt.Errorf("status: store %s: %w", statusRef(n), err)
			}
		}
		nodesOf = append(nodesOf, n)
	}
	return readAll(st, nodesOf, heads), nil
}

// readAll reads the reports of nodes. A store in memory (ReadReports: a
// fleet's reports at once) is read by one goroutine per processor, as
// decoding the YAML is most of the cost (most reports are decoded already,
// while the pack arrived); go-git's storage on disk is not safe for
// concurrent use and is read by one.
func readAll(st storage.Storer, nodes []string, heads map[string]plumbing.Hash) map[string]Report {
	out := make([]Report, len(nodes))
	workers := 1
	switch st.(type) {
	case *memory.Storage, *reportStore:
		workers = min(goruntime.GOMAXPROCS(0), len(nodes)/64+1)
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(nodes); i += workers {
				out[i] = readReport(st, nodes[i], heads[nodes[i]])
			}
		})
	}
	wg.Wait()
	reports := make(map[string]Report, len(nodes))
	for i, n := range nodes {
		reports[n] = out[i]
	}
	return reports
}

// fetchReports fetches the reports' commits wants at depth 1 into st (and
// a commit whole for Git.fetchComplete):
// protocol v2's fetch, or from a server without it, a v0 session (ref
// advertisement, then the request).
func fetchReports(ctx context.Context, loc Location, auth transport.AuthMethod, lister *refLister, st storage.Storer, wants []plumbing.Hash) error {
	shallows, err := st.Shallow()
	if err != nil {
		return err
	}
	store := func(pack io.Reader) error { return packfile.UpdateObjectStorage(st, pack) }
	if rs, ok := st.(*reportStore); ok {
		store = rs.readPack
	}
	// The request names no haves, so the commits the store holds without
	// their parents (every report read before) tell the server nothing:
	// they are not listed, though git would parse each one. The new
	// boundary is recorded all the same.
	got, err := lister.fetchV2(ctx, wants, nil, store)
	if err == nil {
		return st.SetShallow(addShallows(shallows, got))
	}
	if !errors.Is(err, errNoV2Fetch) {
		return err
	}
	c, ep, err := lister.goGitClient()
	if err != nil {
		return err
	}
	sess, err := c.NewUploadPackSession(ep, auth)
	if err != nil {
		return err
	}
	defer sess.Close()
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		return err
	}
	return fetchCommits(ctx, sess, ar, st, wants, 1)
}

// fetchCommits asks the session that advertised ar for wants with depth
// commits of history and stores the pack and the new shallow boundary in
// st.
func fetchCommits(ctx context.Context, sess transport.UploadPackSession, ar *packp.AdvRefs, st storage.Storer, wants []plumbing.Hash, depth int) (err error) {
	req := packp.NewUploadPackRequestFromCapabilities(ar.Capabilities)
	req.Wants = wants
	req.Depth = packp.DepthCommits(depth)
	if err := req.Capabilities.Set(capability.Shallow); err != nil {
		return err
	}
	if ar.Capabilities.Supports(capability.NoProgress) {
		if err := req.Capabilities.Set(capability.NoProgress); err != nil {
			return err
		}
	}
	if req.Shallows, err = st.Shallow(); err != nil {
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
	if err := st.SetShallow(addShallows(req.Shallows, resp.Shallows)); err != nil {
		return err
	}
	return packfile.UpdateObjectStorage(st, demux(req.Capabilities, resp))
}

// demux reads what a v0 exchange that asked for caps sends on side-band
// channel 1 (the pack, or receive-pack's report), or r as it is.
func demux(caps *capability.List, r io.Reader) io.Reader {
	switch {
	case caps.Supports(capability.Sideband64k):
		return sideband.NewDemuxer(sideband.Sideband64k, r)
	case caps.Supports(capability.Sideband):
		return sideband.NewDemuxer(sideband.Sideband, r)
	}
	return r
}

// readReport reads status/<node>.yaml from commit h. Every failure ends up
// in Report.Err.
func readReport(st storage.Storer, node string, h plumbing.Hash) Report {
	rep := Report{Commit: h.String()}
	ref := statusRef(node)
	c, err := object.GetCommit(st, h)
	if err != nil {
		rep.Err = fmt.Errorf("%s: %w", ref, err)
		return rep
	}
	rep.Committed = c.Committer.When
	if rep.Signature = c.PGPSignature; rep.Signature != "" {
		signed := &plumbing.MemoryObject{}
		if err := c.EncodeWithoutSignature(signed); err != nil {
			rep.Err = fmt.Errorf("%s: %w", ref, err)
			return rep
		}
		rep.Signed = make([]byte, signed.Size())
		r, err := signed.Reader()
		if err == nil {
			_, err = io.ReadFull(r, rep.Signed)
		}
		if err != nil {
			rep.Err = fmt.Errorf("%s: %w", ref, err)
			return rep
		}
	}
	file := "status/" + node + ".yaml"
	if rs, ok := st.(*reportStore); ok {
		if d, ok := rs.decodedFor(c.TreeHash, node); ok {
			if rep.Status = d.st; d.err != nil {
				rep.Err = fmt.Errorf("%s: %w", file, d.err)
			}
			return rep
		}
	}
	fsys := newTreeFS(&sync.Mutex{}, st, c.TreeHash)
	if fi, err := fsys.Stat(file); err == nil && fi.Size() > maxReport {
		rep.Err = fmt.Errorf("%s: %s is %d bytes, more than %d", ref, file, fi.Size(), maxReport)
		return rep
	}
	data, err := fsys.ReadFile(file)
	if err != nil {
		rep.Err = fmt.Errorf("%s: %w", ref, err)
		return rep
	}
	if rep.Status, err = status.Unmarshal(data); err != nil {
		rep.Err = fmt.Errorf("%s: %w", file, err)
	}
	return rep
}

func statusRef(node string) plumbing.ReferenceName {
	return plumbing.ReferenceName(statusPrefix + node)
}

// addShallows returns shallows with those of got it does not hold yet
// appended (a set: with 10,000 reports a linear search each is quadratic).
func addShallows(shallows, got []plumbing.Hash) []plumbing.Hash {
	have := make(map[plumbing.Hash]bool, len(shallows)+len(got))
	for _, h := range shallows {
		have[h] = true
	}
	for _, h := range got {
		if !have[h] {
			have[h] = true
			shallows = append(shallows, h)
		}
	}
	return shallows
}
