package source

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/go-git/go-git/v5/storage/memory"
)

// What CarryStatus did with one node's report.
const (
	CarryCreated  = "created"    // the destination had no report of the node
	CarryForward  = "forwarded"  // the destination's report was an ancestor: fast-forward
	CarryMerged   = "merged"     // both moved; the carried report is newer: a merge commit
	CarryUpToDate = "up to date" // the destination holds this report already
	CarryKept     = "kept newer" // the destination's report is newer: nothing pushed
	CarrySkipped  = "skipped"    // the stick's report cannot be read
)

// Carried is what CarryStatus did with one node's report.
type Carried struct {
	Node   string
	Action string // one of the Carry* words
	// Commit is the destination's ref afterwards.
	Commit string
	// Reason says why, for the kept and merged cases.
	Reason string
}

// CarryStatus pushes the status refs (refs/heads/status/<node>) of the
// in-process repository from (a USB stick's fleet.git) to the repository
// to (the fleet repo or its status repo), never letting an older report
// replace a newer one: when the destination's ref is an ancestor of the
// stick's, the stick's is pushed as a fast-forward; when the stick's is an
// ancestor of the destination's, or both moved and the destination's
// report has the later lastSeen, nothing is pushed; when both moved and
// the stick's report is later, a merge commit (both histories as parents,
// the stick's report as its tree) is pushed, so both audit trails stay.
func CarryStatus(ctx context.Context, from, to Location) ([]Carried, error) {
	if !from.inProcess {
		return nil, errors.New("status: carry: the source must be a LocalRepository")
	}
	stick, err := ReadReports(ctx, from)
	if err != nil {
		return nil, err
	}
	dest, err := ReadReports(ctx, to)
	if err != nil {
		return nil, err
	}
	auth, err := authMethod(to, sshConnectTimeout)
	if err != nil {
		return nil, fmt.Errorf("status %s: %w", to, err)
	}
	src, err := openInProcess(from)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	nodes := make([]string, 0, len(stick))
	for n := range stick {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	var out []Carried
	for _, n := range nodes {
		s, d := stick[n], dest[n]
		if s.Err != nil {
			out = append(out, Carried{Node: n, Action: CarrySkipped, Commit: d.Commit, Reason: s.Err.Error()})
			continue
		}
		c, err := carryOne(ctx, src, to, auth, n, s, d)
		if err != nil {
			return out, err
		}
		out = append(out, c)
	}
	return out, nil
}

// carryOne decides and pushes one node's report.
func carryOne(ctx context.Context, src *filesystem.Storage, to Location, auth transport.AuthMethod, node string, s, d Report) (Carried, error) {
	ref := statusRef(node)
	c := Carried{Node: node, Commit: d.Commit}
	if d.Commit == s.Commit {
		c.Action = CarryUpToDate
		return c, nil
	}
	mem := memory.NewStorage()
	sHead := plumbing.NewHash(s.Commit)
	if err := copyHistory(ctx, src, mem, sHead, 0); err != nil {
		return c, fmt.Errorf("status: %s: %w", ref, err)
	}
	push := func(h plumbing.Hash) error {
		if err := mem.SetReference(plumbing.NewHashReference(ref, h)); err != nil {
			return err
		}
		rem := git.NewRemote(mem, &config.RemoteConfig{Name: "dest", URLs: []string{to.url}})
		err := rem.PushContext(ctx, &git.PushOptions{
			RemoteName: "dest",
			RefSpecs:   []config.RefSpec{config.RefSpec(ref.String() + ":" + ref.String())},
			Auth:       auth,
		})
		if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
			return remoteError("push", to, ref.String(), err)
		}
		c.Commit = h.String()
		return nil
	}
	if d.Commit == "" {
		c.Action = CarryCreated
		return c, push(sHead)
	}
	dHead := plumbing.NewHash(d.Commit)
	rem := git.NewRemote(mem, &config.RemoteConfig{Name: "dest", URLs: []string{to.url}})
	err := fetch(ctx, rem, &git.FetchOptions{
		RemoteName: "dest",
		RefSpecs:   []config.RefSpec{config.RefSpec("+" + ref.String() + ":refs/remotes/dest/" + node)},
		Auth:       auth, Tags: git.NoTags,
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return c, remoteError("fetch", to, ref.String(), err)
	}
	switch {
	case reachable(mem, sHead, dHead):
		c.Action = CarryForward
		return c, push(sHead)
	case reachable(mem, dHead, sHead):
		c.Action, c.Reason = CarryKept, "the repository's report already follows the stick's"
		return c, nil
	}
	sSeen, dSeen := lastSeen(s), lastSeen(d)
	if !sSeen.After(dSeen) {
		c.Action = CarryKept
		c.Reason = fmt.Sprintf("the repository's report (lastSeen %s) is newer than the stick's (%s)", dSeen.Format(time.RFC3339), sSeen.Format(time.RFC3339))
		return c, nil
	}
	sc, err := object.GetCommit(mem, sHead)
	if err != nil {
		return c, err
	}
	now := time.Now()
	merge := &object.Commit{
		Author:       sc.Author,
		Committer:    object.Signature{Name: "fleetctl usb import", Email: "usb-import@gitfleet.invalid", When: now},
		Message:      fmt.Sprintf("%s: report carried by USB stick\n\nThe stick's report (lastSeen %s) is newer than the repository's (%s).\n", node, sSeen.Format(time.RFC3339), dSeen.Format(time.RFC3339)),
		TreeHash:     sc.TreeHash,
		ParentHashes: []plumbing.Hash{dHead, sHead},
	}
	o := mem.NewEncodedObject()
	if err := merge.Encode(o); err != nil {
		return c, err
	}
	h, err := mem.SetEncodedObject(o)
	if err != nil {
		return c, err
	}
	c.Action = CarryMerged
	c.Reason = fmt.Sprintf("both moved; the stick's report (lastSeen %s) is newer", sSeen.Format(time.RFC3339))
	return c, push(h)
}

// lastSeen is a report's lastSeen, or its commit time when unreadable.
func lastSeen(r Report) time.Time {
	if r.Status != nil && !r.Status.Status.LastSeen.IsZero() {
		return r.Status.Status.LastSeen
	}
	return r.Committed
}

// reachable reports whether target is from or one of its ancestors in s.
func reachable(s storer.EncodedObjectStorer, from, target plumbing.Hash) bool {
	seen := map[plumbing.Hash]bool{}
	stack := []plumbing.Hash{from}
	for len(stack) > 0 {
		h := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if h == target {
			return true
		}
		if seen[h] {
			continue
		}
		seen[h] = true
		c, err := object.GetCommit(s, h)
		if err != nil {
			continue
		}
		stack = append(stack, c.ParentHashes...)
	}
	return false
}
