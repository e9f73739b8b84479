package plan

import (
	"cmp"
	"context"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/gitfleet/gitfleet/fault"
	"github.com/gitfleet/gitfleet/spec"
)

// ImageVerifier checks that an image exists at its registry (or the mirror
// fleetd would pull it from) and that at least minSignatures of keys (PEM
// public keys by path; 0 means 1) signed exactly its digest, offline, as
// fleetd does before any pull. It is the agent's own check
// (reconciler.ImageVerifier); package image implements it. A refusal is of
// class fault.Refused; a registry that cannot be reached is transient.
type ImageVerifier interface {
	VerifyImage(ctx context.Context, ref string, registries []spec.Registry, keys map[string][]byte, minSignatures int) (spec.ImageSource, error)
}

// Results of an ImageCheck.
const (
	ImageVerified    = "verified"
	ImageRefused     = "refused"
	ImageUnreachable = "unreachable"
)

// SeverityUnreachable is the severity of a finding that could not be
// decided: the registry could not be reached.
const SeverityUnreachable = "unreachable"

// ImageCheck is the verdict on one image reference of the repo.
type ImageCheck struct {
	Image  string `json:"image"`
	File   string `json:"file"`
	Line   int    `json:"line,omitempty"`
	Field  string `json:"field"`
	Result string `json:"result"` // ImageVerified, ImageRefused or ImageUnreachable
	Reason string `json:"reason,omitempty"`
}

// Finding is the check as a finding: an error when refused, an
// unreachable finding when the registry could not be reached, ok false
// when verified.
func (c ImageCheck) Finding() (f Finding, ok bool) {
	f = Finding{File: c.File, Line: c.Line, Field: c.Field}
	reason := c.Reason
	if i := strings.Index(reason, c.Image+": "); i >= 0 {
		reason = reason[i+len(c.Image)+2:] // the image is named once
	}
	switch c.Result {
	case ImageRefused:
		f.Severity, f.Message = SeverityError, "image "+c.Image+" refused: "+reason
	case ImageUnreachable:
		f.Severity, f.Message = SeverityUnreachable, "image "+c.Image+" not checked, registry unreachable: "+reason
	default:
		return f, false
	}
	return f, true
}

// imageSite is one image reference in the repo.
type imageSite struct {
	ref, file, field string
	line             int
	min              int
}

// imageSites lists every image reference of repo: each workload's
// spec.image and each image override of groups and nodes, sorted by file
// and line.
func imageSites(fsys fs.FS, repo *spec.Repo) []imageSite {
	lines := &lineFinder{fsys: fsys}
	var out []imageSite
	for _, name := range slices.Sorted(maps.Keys(repo.Workloads)) {
		w := repo.Workloads[name]
		file, line := lines.find("workloads", name, "spec", "image")
		out = append(out, imageSite{w.Spec.Image, file, "spec.image", line, w.Spec.MinSignatures})
	}
	override := func(dir, name string, ov map[string]spec.Override) {
		for _, wl := range slices.Sorted(maps.Keys(ov)) {
			if ov[wl].Image == "" {
				continue
			}
			file, line := lines.find(dir, name, "spec", "overrides", wl, "image")
			out = append(out, imageSite{ov[wl].Image, file, "spec.overrides." + wl + ".image", line, repo.Workloads[wl].Spec.MinSignatures})
		}
	}
	for _, name := range slices.Sorted(maps.Keys(repo.Groups)) {
		override("groups", name, repo.Groups[name].Spec.Overrides)
	}
	for _, name := range slices.Sorted(maps.Keys(repo.Nodes)) {
		override("nodes", name, repo.Nodes[name].Spec.Overrides)
	}
	return out
}

// imageKeys reads the image keys fleet.yaml names (those that do not read
// are reported by the key file check).
func imageKeys(fsys fs.FS, f *spec.Fleet) map[string][]byte {
	keys := map[string][]byte{}
	for _, k := range f.Spec.Trust.Images.Keys {
		if b, err := readKeyFile(fsys, k); err == nil {
			keys[k] = b
		}
	}
	return keys
}

// CheckImages verifies the image references of repo for which want returns
// true (nil: all) with v, against the image keys fleet.yaml names and the
// registries it configures: each distinct reference once, up to
// concurrency (default 8) at a time. The result has one check per
// reference in the repo, sorted by file and line.
func CheckImages(ctx context.Context, fsys fs.FS, repo *spec.Repo, v ImageVerifier, want func(ref string) bool, concurrency int) []ImageCheck {
	if concurrency <= 0 {
		concurrency = 8
	}
	keys := imageKeys(fsys, &repo.Fleet)
	regs := repo.Fleet.Spec.Registries
	type job struct {
		ref string
		min int
	}
	var sites []imageSite
	verdicts := map[job]*ImageCheck{}
	for _, s := range imageSites(fsys, repo) {
		if want != nil && !want(s.ref) {
			continue
		}
		sites = append(sites, s)
		verdicts[job{s.ref, s.min}] = &ImageCheck{}
	}
	jobs := make(chan job)
	var wg sync.WaitGroup
	for range min(concurrency, len(verdicts)) {
		wg.Go(func() {
			for j := range jobs {
				c := verdicts[j]
				_, err := v.VerifyImage(ctx, j.ref, regs, keys, j.min)
				switch {
				case err == nil:
					c.Result = ImageVerified
				case fault.ClassOf(err) == fault.Refused:
					c.Result, c.Reason = ImageRefused, err.Error()
				default:
					c.Result, c.Reason = ImageUnreachable, err.Error()
				}
			}
		})
	}
	for _, j := range slices.SortedFunc(maps.Keys(verdicts), func(a, b job) int {
		if a.ref != b.ref {
			return cmp.Compare(a.ref, b.ref)
		}
		return a.min - b.min
	}) {
		jobs <- j
	}
	close(jobs)
	wg.Wait()
	out := make([]ImageCheck, 0, len(sites))
	for _, s := range sites {
		c := *verdicts[job{s.ref, s.min}]
		c.Image, c.File, c.Line, c.Field = s.ref, s.file, s.line, s.field
		out = append(out, c)
	}
	return out
}

// String is the check as one line of text.
func (c ImageCheck) String() string {
	return fmt.Sprintf("%s:%d: %s: %s %s", c.File, c.Line, c.Field, c.Image, c.Result)
}

// checkPlanImages verifies the images the plan's nodes download at head
// (opts.Images): a refused one is an error of the plan, one whose registry
// cannot be reached is Unreachable.
func checkPlanImages(ctx context.Context, p *Plan, head fs.FS, repo *spec.Repo, opts Options) {
	if opts.Images == nil {
		p.Notes = append(p.Notes, "Image signatures: not checked (no registry access).")
		return
	}
	want := map[string]bool{}
	for _, n := range p.Nodes {
		for _, r := range n.newImages {
			want[r] = true
		}
	}
	if len(want) == 0 {
		return
	}
	p.ImageChecks = CheckImages(ctx, head, repo, opts.Images, func(ref string) bool { return want[ref] }, opts.Concurrency)
	byRef := map[string]string{}
	for _, c := range p.ImageChecks {
		byRef[imageKey(c.Image)] = c.Result
		f, ok := c.Finding()
		switch {
		case !ok:
		case f.Severity == SeverityError:
			p.Errors = append(p.Errors, f)
		default:
			p.Unreachable = append(p.Unreachable, f)
		}
	}
	for i := range p.Images {
		p.Images[i].Signature = byRef[imageKey(p.Images[i].Ref)]
	}
}

// imageCheckLines are the lines of text saying how the images' checks
// went: a count, then each reference that is not verified.
func imageCheckLines(checks []ImageCheck) []string {
	if len(checks) == 0 {
		return nil
	}
	n := map[string]int{}
	var bad []string
	for _, c := range checks {
		n[c.Result]++
		if f, ok := c.Finding(); ok {
			bad = append(bad, f.String())
		}
	}
	head := fmt.Sprintf("Image signatures: %d verified, %d refused, %d unreachable (head's spec.trust.images.keys, offline, as fleetd checks before a pull)",
		n[ImageVerified], n[ImageRefused], n[ImageUnreachable])
	return append([]string{head}, bad...)
}
