package reconciler

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/gitfleet/gitfleet/fault"
	"github.com/gitfleet/gitfleet/spec"
)

// fakeCommits refuses revisions by id, or fails every call with fail, and
// records the modes it was asked in.
type fakeCommits struct {
	refuse map[string]bool
	fail   error
	calls  []string
	modes  []string
}

func (f *fakeCommits) VerifyCommit(_ context.Context, rev, last, mode string) error {
	f.calls = append(f.calls, rev+"<-"+last)
	f.modes = append(f.modes, mode)
	if f.fail != nil {
		return f.fail
	}
	if f.refuse[rev] {
		return fault.Refuse(rev, errors.New("no valid signature by a trusted key"))
	}
	return nil
}

// fakeImages refuses images by ref and records the keys it was given.
type fakeImages struct {
	refuse map[string]bool
	keys   map[string][]byte
	min    map[string]int
}

// verifiedHost is where fakeImages says it verified every image.
const verifiedHost = "verified.invalid:5000"

func (f *fakeImages) VerifyImage(_ context.Context, ref string, _ []spec.Registry, keys map[string][]byte, min int) (spec.ImageSource, error) {
	f.keys = keys
	if f.min != nil {
		f.min[ref] = min
	}
	if f.refuse[ref] {
		return spec.ImageSource{}, fault.Refuse(ref, errors.New("not signed by a trusted key"))
	}
	img, err := spec.ParseImageRef(ref)
	if err != nil {
		return spec.ImageSource{}, err
	}
	return spec.ImageSource{Image: img, Host: verifiedHost, Repository: "verified/" + img.Repository, Digest: img.Digest}, nil
}

func TestPassCommitVerification(t *testing.T) {
	commits := &fakeCommits{refuse: map[string]bool{"rev2": true}}
	h := newHarness(t, Config{})
	h.r.deps.Commits = commits
	h.commit("rev1", map[string]string{"detector": workloadYAML("detector", digest("a"), "info")})
	if err := h.pass(t); err != nil {
		t.Fatal(err)
	}
	if st := h.rep.last().Status; st.VerificationDisabled || st.AppliedRevision != "rev1" {
		t.Fatalf("status = %+v", st)
	}
	good, _ := h.rt.get("detector")

	h.commit("rev2", map[string]string{"detector": workloadYAML("detector", digest("a"), "debug")})
	if err := h.pass(t); fault.ClassOf(err) != fault.Refused {
		t.Fatalf("unsigned revision: err = %v, want stalled", err)
	}
	if in, _ := h.rt.get("detector"); in.PID != good.PID {
		t.Error("an unsigned revision changed a container")
	}
	st := h.rep.last().Status
	if len(st.Errors) != 1 || st.Errors[0].Ref != "rev2" || !strings.Contains(st.Errors[0].Reason, "trusted key") {
		t.Errorf("errors = %+v", st.Errors)
	}
	if got := commits.calls; len(got) != 2 || got[1] != "rev2<-rev1" {
		t.Errorf("verifier calls = %v; want rev2 checked against rev1", got)
	}

	// A verifier that cannot decide (not a refusal) is retried, not refused.
	commits.fail = errors.New("open repository: i/o error")
	h.commit("rev3", map[string]string{"detector": workloadYAML("detector", digest("a"), "warn")})
	if err := h.pass(t); err == nil || fault.ClassOf(err) == fault.Refused {
		t.Fatalf("err = %v, want transient", err)
	}
	commits.fail = nil
	if err := h.pass(t); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if in, _ := h.rt.get("detector"); in.Revision != "rev3" {
		t.Errorf("rev3 not applied after the verifier recovered: %+v", in)
	}
}

func TestPassImageVerification(t *testing.T) {
	images := &fakeImages{refuse: map[string]bool{digest("b"): true}}
	h := newHarness(t, insecure())
	h.r.deps.Images = images
	rev1 := tree(map[string]string{"detector": workloadYAML("detector", digest("a"), "info")})
	rev1["fleet.yaml"].Data = []byte(fleetYAML + "  trust: {images: {keys: [trust/cosign.pub]}}\n")
	rev1["trust/cosign.pub"] = &fstest.MapFile{Data: []byte("PEM")}
	h.src.trees["rev1"], h.src.head = rev1, "rev1"
	if err := h.pass(t); err != nil {
		t.Fatal(err)
	}
	if string(images.keys["trust/cosign.pub"]) != "PEM" {
		t.Errorf("verifier got keys %v; want the revision's trust/cosign.pub", images.keys)
	}
	good, _ := h.rt.get("detector")

	h.commit("rev2", map[string]string{"detector": workloadYAML("detector", digest("b"), "info")})
	if err := h.pass(t); fault.ClassOf(err) != fault.Refused {
		t.Fatalf("unsigned image: err = %v, want the revision refused", err)
	}
	if in, _ := h.rt.get("detector"); in.PID != good.PID || len(h.rt.pulled) != 1 {
		t.Errorf("an unsigned image was pulled (%v) or changed the container", h.rt.pulled)
	}
	if st := h.rep.last().Status; len(st.Errors) != 1 || st.Errors[0].Ref != "rev2" {
		t.Errorf("errors = %+v", st.Errors)
	}

	// A missing key file is a spec error naming fleet.yaml.
	bad := tree(map[string]string{"detector": workloadYAML("detector", digest("a"), "info")})
	bad["fleet.yaml"].Data = []byte(fleetYAML + "  trust: {images: {keys: [trust/missing.pub]}}\n")
	h.src.trees["rev3"], h.src.head = bad, "rev3"
	if err := h.pass(t); fault.ClassOf(err) != fault.Refused {
		t.Fatalf("missing key file: err = %v", err)
	}
	if st := h.rep.last().Status; len(st.Errors) != 1 || st.Errors[0].File != "fleet.yaml" || st.Errors[0].Field != "spec.trust.images.keys[0]" {
		t.Errorf("errors = %+v", st.Errors)
	}
}

func TestPassAsksForMinSignatures(t *testing.T) {
	images := &fakeImages{min: map[string]int{}}
	h := newHarness(t, insecure())
	h.r.deps.Images = images
	h.commit("rev1", map[string]string{
		"detector":   workloadYAML("detector", digest("a"), "info") + "  minSignatures: 2\n",
		"classifier": workloadYAML("classifier", digest("b"), "info"),
	})
	if err := h.pass(t); err != nil {
		t.Fatal(err)
	}
	if images.min[digest("a")] != 2 || images.min[digest("b")] != 1 {
		t.Errorf("verifier asked for %v; want 2 signatures for detector's image, 1 for classifier's", images.min)
	}
}

func TestInsecureModeDoesNotNeedImageKeys(t *testing.T) {
	h := newHarness(t, insecure())
	fsys := tree(map[string]string{"detector": workloadYAML("detector", digest("a"), "info")})
	fsys["fleet.yaml"].Data = []byte(fleetYAML + "  trust: {images: {keys: [trust/cosign.pub]}}\n")
	h.src.trees["rev1"], h.src.head = fsys, "rev1"
	if err := h.pass(t); err != nil {
		t.Fatalf("insecure pass over a fleet naming a key file it lacks: %v", err)
	}
}
