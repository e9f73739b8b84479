package fleetstatus

import (
	"cmp"
	"context"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"time"

	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/status"
	"github.com/gitfleet/gitfleet/trust"
)

// Fleet is the fleet at one moment: the branch head and every node known
// from nodes/*.yaml or from a status ref.
type Fleet struct {
	// Repo and StatusRepo are the URLs, without credentials; StatusRepo is
	// empty when the status refs live in the fleet repo.
	Repo       string `json:"repo"`
	StatusRepo string `json:"statusRepo,omitempty"`
	Branch     string `json:"branch"`
	// Head is the branch head's commit.
	Head string `json:"head"`
	// GeneratedAt is Options.Now when the fleet was read; ages count from it.
	GeneratedAt time.Time `json:"generatedAt"`
	// The thresholds the states were derived with.
	Heartbeat    spec.Duration `json:"heartbeat"`
	StaleAfter   spec.Duration `json:"staleAfter"`
	OfflineAfter spec.Duration `json:"offlineAfter"`
	// GroupBy is the label whose value is each node's Site.
	GroupBy string `json:"groupBy"`
	// Counts has the number of nodes in each state, every state present.
	Counts map[State]int `json:"counts"`
	// Nodes, sorted by Site (nodes without one last) and name.
	Nodes []Node `json:"nodes"`
	// Warnings about the fleet as a whole (the head does not parse).
	Warnings []string `json:"warnings"`
	// Models says which version of each workload's model runs on which
	// nodes, from their reports.
	Models []ModelVersions `json:"models"`
	// Rollouts are the staged rollouts of the groups with spec.rollout:
	// each wave's nodes and how far they are.
	Rollouts []Rollout `json:"rollouts"`
	// CommitURL and StatusCommitURL are web page templates of a commit of
	// the fleet repo and of the status repo ("{commit}" replaced by the
	// hash) when they live on a known forge, or as Options.CommitURL says.
	CommitURL       string `json:"commitURL,omitempty"`
	StatusCommitURL string `json:"statusCommitURL,omitempty"`
}

// Node is one node's line in the overview.
type Node struct {
	Name string `json:"name"`
	// Site is the value of the node's GroupBy label ("site"), if known.
	Site string `json:"site,omitempty"`
	// Labels are the node's labels from nodes/<name>.yaml at the head
	// (fleetd's --labels may add more, which the overview cannot see).
	Labels map[string]string `json:"labels,omitempty"`
	// Groups whose selectors match Labels, sorted.
	Groups []string `json:"groups,omitempty"`
	// Declared is true when the head has nodes/<name>.yaml.
	Declared bool `json:"declared"`
	// Reported is true when the node has a status ref.
	Reported bool `json:"reported"`

	State State `json:"state"`
	// Reason says in a few words why the node is in its state.
	Reason string `json:"reason,omitempty"`

	AppliedRevision  string `json:"appliedRevision,omitempty"`
	ObservedRevision string `json:"observedRevision,omitempty"`
	// Behind is nil when unknown: nothing applied, or the applied revision
	// is not in the branch's history (rewritten by a force-push).
	Behind *Behind `json:"behind,omitempty"`

	// Healthy counts running workloads not reported unhealthy or starting;
	// Failing those not running (pending excepted) or unhealthy.
	Healthy   int               `json:"healthy"`
	Failing   int               `json:"failing"`
	Workloads []status.Workload `json:"workloads"`
	// Ready is the report's Ready condition, if any.
	Ready *status.Condition `json:"ready,omitempty"`
	// Errors are the report's errors ("file:line: field: reason"), or why
	// the report could not be read.
	Errors []string `json:"errors"`

	// LastSeen is the report's lastSeen (else its commit's time); nil if
	// the node never reported.
	LastSeen *time.Time `json:"lastSeen,omitempty"`
	// ReportCommit is the status ref's commit.
	ReportCommit string `json:"reportCommit,omitempty"`
	// VerificationDisabled: fleetd runs with --insecure-skip-verify.
	VerificationDisabled bool `json:"verificationDisabled,omitempty"`
	// Models are the model versions of the node's workloads, by workload.
	Models []Model `json:"models"`
	// Untrusted says why the report is not trusted: its commit is not
	// signed by the status key enrolled for the node at the head
	// (unsigned, another key, no key enrolled). Empty for a trusted report.
	Untrusted string `json:"untrusted,omitempty"`
	// SignedBy is the SHA256 fingerprint of the enrolled status key that
	// signed a trusted report.
	SignedBy string `json:"signedBy,omitempty"`
}

// ErrBranchNotFound: the fleet repo has no such branch.
var ErrBranchNotFound = source.ErrBranchNotFound

// Collect reads the fleet: the tracked branch (HistoryDepth commits) and
// every status report (source.ReadReports: one fetch), in parallel. A
// remote fleet repo is fetched into memory, a local one read in place. It
// fails only when the branch cannot be read or the status refs cannot be
// fetched; a malformed report makes its node failing.
func Collect(ctx context.Context, opts Options) (*Fleet, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	statusLoc := o.StatusRepo
	if statusLoc.IsZero() {
		statusLoc = o.Repo
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	type statusResult struct {
		reports map[string]source.Report
		err     error
	}
	done := make(chan statusResult, 1)
	go func() {
		reps, err := source.ReadReports(ctx, statusLoc)
		done <- statusResult{reps, err}
	}()
	repo, head, fsys, berr := readBranch(ctx, o)
	if berr != nil {
		cancel()
	}
	// The head's tree is parsed while the reports are still on their way
	// (with 10,000 nodes either takes a second or more).
	var fr *fleetRepo
	if berr == nil {
		fr = readFleetRepo(fsys, head)
	}
	sr := <-done
	if berr != nil {
		return nil, berr
	}
	if sr.err != nil {
		return nil, sr.err
	}

	hist, err := newHistory(repo, head, o.HistoryDepth)
	if err != nil {
		return nil, fmt.Errorf("read history of %s: %w", o.Branch, err)
	}
	o.thresholds(fr.heartbeat)
	now := o.Now()

	f := &Fleet{
		Repo:         o.Repo.String(),
		Branch:       o.Branch,
		Head:         head,
		GeneratedAt:  now,
		Heartbeat:    spec.Duration{Duration: o.Heartbeat},
		StaleAfter:   spec.Duration{Duration: o.StaleAfter},
		OfflineAfter: spec.Duration{Duration: o.OfflineAfter},
		GroupBy:      o.GroupBy,
		Counts:       map[State]int{},
		Warnings:     []string{},
	}
	if !o.StatusRepo.IsZero() {
		f.StatusRepo = o.StatusRepo.String()
	}
	if fr.warning != "" {
		f.Warnings = append(f.Warnings, fr.warning)
	}
	if len(sr.reports) == 0 {
		f.Warnings = append(f.Warnings, noStatusRefs(statusLoc))
	}

	names := map[string]bool{}
	for name := range fr.nodes {
		names[name] = true
	}
	for name := range sr.reports {
		names[name] = true
	}
	groupNames := slices.Sorted(maps.Keys(fr.groups))
	for _, name := range slices.Sorted(maps.Keys(names)) {
		n := Node{Name: name, Workloads: []status.Workload{}, Errors: []string{}, Models: []Model{}}
		if spec, ok := fr.nodes[name]; ok {
			n.Declared = true
			n.Labels = spec.Metadata.Labels
			n.Site = n.Labels[o.GroupBy]
			for _, g := range groupNames {
				if fr.groups[g].Spec.Selector.Matches(n.Labels) {
					n.Groups = append(n.Groups, g)
				}
			}
		}
		var rep *report
		if r, ok := sr.reports[name]; ok {
			n.Reported = true
			rep = newReport(r)
			rep.verify(r, fr.nodes[name].Spec.StatusKey)
			n.Untrusted, n.SignedBy = rep.untrusted, rep.signedBy
			n.fill(rep, hist)
		}
		classify(&n, rep, f.Head, now, o)
		f.Counts[n.State]++
		f.Nodes = append(f.Nodes, n)
	}
	for _, s := range States() {
		f.Counts[s] += 0
	}
	// Worst first: failing, offline, stale, updating, up-to-date; then by
	// site (nodes without one last) and name.
	slices.SortStableFunc(f.Nodes, func(a, b Node) int {
		if c := cmp.Compare(severity(a.State), severity(b.State)); c != 0 {
			return c
		}
		if (a.Site == "") != (b.Site == "") {
			if a.Site == "" {
				return 1
			}
			return -1
		}
		return cmp.Or(cmp.Compare(a.Site, b.Site), cmp.Compare(a.Name, b.Name))
	})
	if f.Nodes == nil {
		f.Nodes = []Node{}
	}
	f.Models = modelVersions(f.Nodes)
	f.Rollouts = rollouts(fr.groups, fr.nodes, f.Nodes, f.Head)
	f.CommitURL, f.StatusCommitURL = o.CommitURL, o.CommitURL
	if f.CommitURL == "" {
		f.CommitURL = commitURLTemplate(o.Repo.String())
		f.StatusCommitURL = commitURLTemplate(statusLoc.String())
	}
	return f, nil
}

// NoStatusRefs starts the warning of a fleet whose status location holds
// no status ref at all.
const NoStatusRefs = "no status refs"

// noStatusRefs is the warning of a status location without a single status
// ref: no node ever reported there, or it is the wrong place to look (a
// clone holds the server's status refs as remote-tracking refs, which are
// not read).
func noStatusRefs(loc source.Location) string {
	msg := NoStatusRefs + " (refs/heads/status/*) in " + loc.String() + ": no node has reported there."
	if loc.Dir() != "" {
		msg += " A local directory is read as a remote: fleetd pushes its reports to the git server, and a clone holds them only as refs/remotes/origin/status/*, which are not read;" +
			" give the server's URL (--repo, or --status-repo when fleetd has its own status repository)."
	} else {
		msg += " If fleetd pushes its reports to a repository of their own (fleetd --status-repo), give it with --status-repo."
	}
	return msg
}

// fill copies what the overview shows from a report.
func (n *Node) fill(rep *report, hist *history) {
	n.ReportCommit = rep.commit
	if !rep.lastSeen.IsZero() {
		t := rep.lastSeen.UTC()
		n.LastSeen = &t
	}
	if rep.err != nil {
		n.Errors = append(n.Errors, rep.err.Error())
		return
	}
	st := rep.st.Status
	n.AppliedRevision = st.AppliedRevision
	n.ObservedRevision = st.ObservedRevision
	n.Behind = hist.behind(st.AppliedRevision)
	n.VerificationDisabled = st.VerificationDisabled
	for _, c := range st.Conditions {
		if c.Type == "Ready" {
			n.Ready = &c
		}
	}
	n.Models = modelsOf(st.Workloads)
	for _, w := range st.Workloads {
		n.Workloads = append(n.Workloads, w)
		switch {
		case workloadHealthy(w):
			n.Healthy++
		case workloadFailing(w):
			n.Failing++
		}
	}
	for _, e := range st.Errors {
		n.Errors = append(n.Errors, status.FormatError(e))
	}
}

// readBranch opens the fleet repo and reads the branch head's commit and
// tree.
func readBranch(ctx context.Context, o Options) (*source.Repo, string, fs.FS, error) {
	repo, err := source.Open(ctx, o.Repo, source.OpenOptions{Branch: o.Branch, Depth: o.HistoryDepth})
	if err != nil {
		return nil, "", nil, err
	}
	head, err := repo.Branch(o.Branch)
	if err != nil {
		return nil, "", nil, err
	}
	fsys, _, err := repo.Tree(head)
	if err != nil {
		return nil, "", nil, fmt.Errorf("read head %s: %w", short(head), err)
	}
	return repo, head, fsys, nil
}

// newReport keeps what the overview needs of a status report: lastSeen is
// the report's own, else its commit's time.
// verify checks the report's commit signature against statusKey, the key
// the head enrols for the node ("" when none).
func (rep *report) verify(r source.Report, statusKey string) {
	if r.Err != nil {
		return // malformed: failing, whoever wrote it
	}
	fp, err := trust.VerifyReport(statusKey, r.Signature, r.Signed)
	if err != nil {
		rep.untrusted = err.Error()
		return
	}
	rep.signedBy = fp
}

func newReport(r source.Report) *report {
	rep := &report{commit: r.Commit, st: r.Status, err: r.Err, lastSeen: r.Committed}
	if r.Status != nil && !r.Status.Status.LastSeen.IsZero() {
		rep.lastSeen = r.Status.Status.LastSeen
	}
	return rep
}
