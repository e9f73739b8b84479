package fleetstatus

import (
	"cmp"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"
)

//go:embed page.html.tmpl
var pageSource string

// page is parsed once per call: a template is cheap to parse and this
// keeps the package free of mutable package-level state.
func page() (*template.Template, error) {
	return template.New("page").Parse(pageSource)
}

// WriteHTML writes one static page: the counts per state, then one table
// per site (Options.GroupBy; by first group when no node has that label),
// one row per node coloured by state and labelled with it, errors shown.
// The page has inline CSS only and loads nothing.
func (f *Fleet) WriteHTML(w io.Writer) error {
	t, err := page()
	if err != nil {
		return fmt.Errorf("html template: %w", err)
	}
	return t.Execute(w, f.pageData())
}

type pageData struct {
	*Fleet
	HeadShort, HeadURL, Generated, Summary string
	HeartbeatText, StaleText, OfflineText  string
	States                                 []stateTile
	Sections                               []section
	ModelRows                              []modelRow
	RolloutRows                            []rolloutRow
}

// modelRow is one version of one workload's model on the page.
type modelRow struct {
	Workload, Version, Repository, Nodes string
	Count                                int
	First                                bool // the workload's first version
	Span                                 int  // its number of versions, on the first
}

// rolloutRow is one group's rollout on the page.
type rolloutRow struct {
	Group string
	Waves []waveCell
}

type waveCell struct {
	Name, Summary, Nodes string
	Done                 bool
}

type stateTile struct {
	State      State
	Class, Var string
	Count      int
}

type section struct {
	Title, Summary string
	Rows           []row

	key    string
	counts map[State]int
}

type row struct {
	Node
	Class, Applied, AppliedURL, ReportURL, BehindText, WorkloadsText, Seen, SeenAt, GroupList string
}

// cssVar names each state's colour variable in the template.
func cssVar(s State) string {
	switch s {
	case UpToDate:
		return "up"
	case Updating:
		return "upd"
	case Failing:
		return "fail"
	case Untrusted:
		return "untr"
	case Stale:
		return "stale"
	}
	return "off"
}

func (f *Fleet) pageData() pageData {
	d := pageData{
		Fleet:         f,
		HeadShort:     short(f.Head),
		Generated:     f.GeneratedAt.UTC().Format("2006-01-02 15:04:05 UTC"),
		Summary:       f.summary(),
		HeartbeatText: Age(f.Heartbeat.Duration),
		StaleText:     Age(f.StaleAfter.Duration),
		OfflineText:   Age(f.OfflineAfter.Duration),
	}
	for _, s := range States() {
		d.States = append(d.States, stateTile{State: s, Class: string(s), Var: cssVar(s), Count: f.Counts[s]})
	}
	d.HeadURL = CommitURL(f.CommitURL, f.Head)
	d.Sections = f.sections()
	for _, m := range f.Models {
		for i, v := range m.Versions {
			d.ModelRows = append(d.ModelRows, modelRow{Workload: m.Workload, Version: v.Version(), Repository: v.Repository,
				Nodes: strings.Join(v.Nodes, ", "), Count: len(v.Nodes), First: i == 0, Span: len(m.Versions)})
		}
	}
	for _, r := range f.Rollouts {
		rr := rolloutRow{Group: r.Group}
		for _, w := range r.Waves {
			rr.Waves = append(rr.Waves, waveCell{Name: w.Name, Summary: w.summary(), Nodes: strings.Join(w.Nodes, ", "), Done: w.Done()})
		}
		d.RolloutRows = append(d.RolloutRows, rr)
	}
	return d
}

// sections groups the nodes by Site, in the order of f.Nodes (sorted by
// site). When no node has a site, it groups by each node's first group.
func (f *Fleet) sections() []section {
	key, what := func(n Node) string { return n.Site }, f.GroupBy
	hasSite := false
	for _, n := range f.Nodes {
		hasSite = hasSite || n.Site != ""
	}
	if !hasSite {
		key, what = func(n Node) string {
			if len(n.Groups) > 0 {
				return n.Groups[0]
			}
			return ""
		}, "group"
	}
	var out []section
	index := map[string]int{}
	for _, n := range f.Nodes {
		k := key(n)
		i, ok := index[k]
		if !ok {
			i = len(out)
			index[k] = i
			out = append(out, section{Title: what + " " + k, key: k, counts: map[State]int{}})
			if k == "" {
				out[i].Title = "no " + what
			}
		}
		out[i].counts[n.State]++
		out[i].Rows = append(out[i].Rows, f.row(n))
	}
	// Sections by name, nodes without a key last; rows keep the nodes'
	// order, worst first.
	slices.SortStableFunc(out, func(a, b section) int {
		return cmp.Or(cmp.Compare(boolInt(a.key == ""), boolInt(b.key == "")), cmp.Compare(a.key, b.key))
	})
	for i := range out {
		var parts []string
		for _, s := range States() {
			if c := out[i].counts[s]; c > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", c, s))
			}
		}
		out[i].Summary = fmt.Sprintf("%d %s: %s", len(out[i].Rows), plural(len(out[i].Rows), "node", "nodes"), strings.Join(parts, ", "))
	}
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (f *Fleet) row(n Node) row {
	r := row{Node: n, Class: string(n.State), Applied: dash(short(n.AppliedRevision)), BehindText: n.behind(),
		Seen: f.lastSeen(n), GroupList: "groups: " + strings.Join(n.Groups, ", "),
		AppliedURL: CommitURL(f.CommitURL, n.AppliedRevision), ReportURL: CommitURL(f.StatusCommitURL, n.ReportCommit)}
	switch {
	case !n.Reported:
		r.WorkloadsText = "-"
	default:
		r.WorkloadsText = fmt.Sprintf("%d/%d healthy", n.Healthy, len(n.Workloads))
	}
	if n.LastSeen != nil {
		r.SeenAt = n.LastSeen.UTC().Format("2006-01-02 15:04")
	}
	return r
}
