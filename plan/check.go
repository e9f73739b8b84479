package plan

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"

	"github.com/gitfleet/gitfleet/spec"
)

// Severities of a Finding.
const (
	SeverityError   = "error"
	SeverityWarning = "warning"
)

// Finding is one problem in a fleet repo: an error (the revision would be
// refused) or a warning (a likely mistake).
type Finding struct {
	Severity string `json:"severity"`
	File     string `json:"file,omitempty"`
	Line     int    `json:"line,omitempty"`
	Field    string `json:"field,omitempty"`
	Message  string `json:"message"`
}

// String is the finding as spec.Error prints: file:line: field: message.
func (f Finding) String() string {
	e := &spec.Error{File: f.File, Line: f.Line, Field: f.Field, Err: errors.New(f.Message)}
	return e.Error()
}

// Report is the result of Check.
type Report struct {
	Errors   []Finding `json:"errors"`
	Warnings []Finding `json:"warnings"`
	// Unreachable are the image references that could not be checked:
	// their registry could not be reached (CheckOptions.Images).
	Unreachable []Finding `json:"unreachable,omitempty"`
	// Images are the verdicts on every image reference, when checked.
	Images []ImageCheck `json:"images,omitempty"`
	// Nodes is the number of nodes/*.yaml resolved (0 when the repo does
	// not parse).
	Nodes int `json:"nodes"`
}

// Check parses the fleet repo in fsys (as Load), resolves every node of
// nodes/ with the labels of its file alone, and looks for likely mistakes:
//
//   - a group whose selector matches no node of nodes/,
//   - a workload that no node runs,
//   - a node that no group selects,
//   - a node in a rollout wave that a later wave waits for, without
//     spec.statusKey (the gate never trusts its reports).
//
// Parse and Resolve errors are the report's Errors; the likely mistakes
// its Warnings. Labels fleetd adds with --labels are not known here, so a
// warning may be one that the agents' labels resolve. Mounts outside
// hostPaths and images not pinned by digest are already errors of
// spec.Parse. Only an I/O error is returned as an error.
func Check(fsys fs.FS) (*Report, error) {
	return CheckWith(context.Background(), fsys, CheckOptions{})
}

// CheckWith is Check that also checks the key files fleet.yaml names
// (spec.trust): each must exist in the repo as a regular file and parse
// with opts.Keys. A bad one is an error on fleet.yaml's field that names
// it. With opts.Images it verifies every image reference too: a refused
// one is an error, one whose registry cannot be reached is Unreachable.
func CheckWith(ctx context.Context, fsys fs.FS, opts CheckOptions) (*Report, error) {
	rep := &Report{Errors: []Finding{}, Warnings: []Finding{}}
	repo, err := Load(fsys)
	if err != nil {
		found, ok := findings(err)
		if !ok {
			return nil, err
		}
		rep.Errors = found
		if f, ferr := spec.ParseFleet(fsys); ferr == nil {
			rep.Errors = sortFindings(append(rep.Errors, checkKeyFiles(fsys, f, opts.Keys)...))
		}
		return rep, nil
	}
	defer func() {
		rep.Errors = append(rep.Errors, checkKeyFiles(fsys, &repo.Fleet, opts.Keys)...)
		if opts.Images != nil {
			rep.Images = CheckImages(ctx, fsys, repo, opts.Images, nil, 0)
			for _, c := range rep.Images {
				if f, ok := c.Finding(); ok && f.Severity == SeverityError {
					rep.Errors = append(rep.Errors, f)
				} else if ok {
					rep.Unreachable = append(rep.Unreachable, f)
				}
			}
		}
		rep.Errors = sortFindings(rep.Errors)
	}()
	names := slices.Sorted(maps.Keys(repo.Nodes))
	rep.Nodes = len(names)
	results := resolveAll(repo, names, true)
	var errs []error
	runs := map[string]bool{}
	for _, n := range names {
		r := results[n]
		if r.err != nil {
			errs = append(errs, r.err)
			continue
		}
		for _, d := range r.desired {
			runs[d.Name] = true
		}
	}
	if len(errs) > 0 {
		found, ok := findings(mergeErrors(errs))
		if !ok {
			return nil, errors.Join(errs...)
		}
		rep.Errors = found
	}
	rep.Warnings = warnings(fsys, repo, names, runs, len(errs) > 0)
	return rep, nil
}

// sortFindings sorts findings by file, line and field, as spec.Parse
// sorts its errors.
func sortFindings(f []Finding) []Finding {
	slices.SortStableFunc(f, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Field, b.Field))
	})
	return f
}

// findings turns the joined *spec.Error of a revision into findings; ok is
// false when err holds anything else.
func findings(err error) (out []Finding, ok bool) {
	for _, e := range flatten(err) {
		var se *spec.Error
		if !errors.As(e, &se) {
			return nil, false
		}
		msg := ""
		if se.Err != nil {
			msg = se.Err.Error()
		}
		out = append(out, Finding{Severity: SeverityError, File: se.File, Line: se.Line, Field: se.Field, Message: msg})
	}
	return out, true
}

func warnings(fsys fs.FS, repo *spec.Repo, nodes []string, runs map[string]bool, resolveFailed bool) []Finding {
	out := []Finding{}
	lines := &lineFinder{fsys: fsys}
	matched := map[string]bool{} // nodes some group selects
	for _, g := range slices.Sorted(maps.Keys(repo.Groups)) {
		sel := repo.Groups[g].Spec.Selector
		hit := false
		for _, n := range nodes {
			if sel.Matches(repo.Nodes[n].Metadata.Labels) {
				hit = true
				matched[n] = true
			}
		}
		if !hit {
			file, line := lines.find("groups", g, "spec", "selector")
			out = append(out, Finding{Severity: SeverityWarning, File: file, Line: line, Field: "spec.selector",
				Message: fmt.Sprintf("group %s selects no node of nodes/ (labels fleetd adds with --labels are not known here)", g)})
		}
	}
	// A workload's use is known only when every node resolved.
	if !resolveFailed {
		for _, w := range slices.Sorted(maps.Keys(repo.Workloads)) {
			if runs[w] {
				continue
			}
			file, line := lines.find("workloads", w, "metadata", "name")
			out = append(out, Finding{Severity: SeverityWarning, File: file, Line: line, Field: "metadata.name",
				Message: fmt.Sprintf("no node of nodes/ runs workload %s: no group that selects a node assigns it, nor a node's spec.workloads", w)})
		}
	}
	for _, n := range nodes {
		if matched[n] {
			continue
		}
		what := "it runs nothing"
		if len(repo.Nodes[n].Spec.Workloads) > 0 {
			what = "it runs only its spec.workloads"
		}
		file, line := lines.find("nodes", n, "metadata", "labels")
		out = append(out, Finding{Severity: SeverityWarning, File: file, Line: line, Field: "metadata.labels",
			Message: fmt.Sprintf("no group selects node %s: %s", n, what)})
	}
	return append(out, statusKeyWarnings(repo, lines)...)
}

// lineFinder places findings on the lines of documents' fields.
type lineFinder struct {
	fsys fs.FS
}

// find returns the file of dir/name (.yaml or .yml) and the line of the
// deepest of the keys path that exists (0 when none does).
func (l *lineFinder) find(dir, name string, path ...string) (file string, line int) {
	file = dir + "/" + name + ".yaml"
	data, err := fs.ReadFile(l.fsys, file)
	if err != nil {
		alt := dir + "/" + name + ".yml"
		if d, aerr := fs.ReadFile(l.fsys, alt); aerr == nil {
			file, data, err = alt, d, nil
		}
	}
	if err != nil {
		return file, 0
	}
	return file, lineOf(data, path...)
}

// lineOf returns the line of the deepest key of path found in the YAML
// document data.
func lineOf(data []byte, path ...string) int {
	var doc yamlv3.Node
	if yamlv3.Unmarshal(data, &doc) != nil || len(doc.Content) != 1 {
		return 0
	}
	n, line := doc.Content[0], 0
	for _, key := range path {
		if n.Kind != yamlv3.MappingNode {
			break
		}
		found := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				line, n, found = n.Content[i].Line, n.Content[i+1], true
				break
			}
		}
		if !found {
			break
		}
	}
	return line
}

// summary counts the findings, for messages.
func (r *Report) String() string {
	s := fmt.Sprintf("%d %s, %d %s", len(r.Errors), plural(len(r.Errors), "error"), len(r.Warnings), plural(len(r.Warnings), "warning"))
	if len(r.Images) > 0 {
		s += fmt.Sprintf(", %d image %s checked", len(r.Images), plural(len(r.Images), "reference"))
	}
	if n := len(r.Unreachable); n > 0 {
		s += fmt.Sprintf(" (%d unreachable)", n)
	}
	return s
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	if strings.HasSuffix(word, "s") {
		return word + "es"
	}
	return word + "s"
}
