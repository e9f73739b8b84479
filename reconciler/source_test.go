package reconciler

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"
)

// mirrorFleetYAML gives the test registry a mirror with a path prefix.
const mirrorFleetYAML = `apiVersion: gitfleet.dev/v1alpha1
kind: Fleet
metadata: {name: test}
spec:
  pollInterval: 10s
  registries:
    - {host: "127.0.0.1:5000", plainHTTP: true, mirrors: ["127.0.0.1:5001/cache"]}
    - {host: "127.0.0.1:5001", plainHTTP: true}
`

func mirrorTree(image string) fstest.MapFS {
	fsys := tree(map[string]string{"detector": workloadYAML("detector", image, "info")})
	fsys["fleet.yaml"] = &fstest.MapFile{Data: []byte(mirrorFleetYAML)}
	return fsys
}

// TestPassPullsFromTheVerifiedSource: the runtime is handed exactly the
// source the verifier checked, and asked of no other.
func TestPassPullsFromTheVerifiedSource(t *testing.T) {
	h := newHarness(t, insecure())
	h.r.deps.Images = &fakeImages{}
	h.src.trees["rev1"], h.src.head = mirrorTree(digest("a")), "rev1"
	if err := h.pass(t); err != nil {
		t.Fatal(err)
	}
	want := "https://" + verifiedHost + "/verified/models/m@" + strings.TrimPrefix(digest("a"), "127.0.0.1:5000/models/m@")
	if len(h.rt.tried) != 1 || h.rt.tried[0].String() != want {
		t.Errorf("pulls asked of %v, want only %s", h.rt.tried, want)
	}
	if got := h.rt.tried[0].Image.String(); got != digest("a") {
		t.Errorf("pulled image named %s, want the spec's %s", got, digest("a"))
	}
}

// TestPassUnverifiedTriesSourcesInOrder: with verification off the pull
// goes to the mirror first (under its prefix) and to the registry when
// the mirror fails.
func TestPassUnverifiedTriesSourcesInOrder(t *testing.T) {
	h := newHarness(t, insecure())
	h.rt.pullErrAt = map[string]error{"127.0.0.1:5001": errors.New("mirror down")}
	h.src.trees["rev1"], h.src.head = mirrorTree(digest("a")), "rev1"
	if err := h.pass(t); err != nil {
		t.Fatal(err)
	}
	dg := strings.TrimPrefix(digest("a"), "127.0.0.1:5000/models/m@")
	want := []string{"http://127.0.0.1:5001/cache/models/m@" + dg, "http://127.0.0.1:5000/models/m@" + dg}
	var got []string
	for _, s := range h.rt.tried {
		got = append(got, s.String())
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("pulls asked of %v, want %v", got, want)
	}
	if len(h.rt.pulled) != 1 || h.rt.pulled[0].String() != want[1] {
		t.Errorf("pulled from %v, want %s", h.rt.pulled, want[1])
	}
	if in, ok := h.rt.get("detector"); !ok || in.Image != digest("a") {
		t.Errorf("detector = %+v, want it running %s", in, digest("a"))
	}
}
