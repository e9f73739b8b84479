package spec

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestMinSignatures(t *testing.T) {
	fleet := "apiVersion: gitfleet.dev/v1alpha1\nkind: Fleet\nmetadata: {name: f}\n"
	w := func(n string) string {
		return "apiVersion: gitfleet.dev/v1alpha1\nkind: Workload\nmetadata: {name: d}\nspec:\n  image: r.example/m@sha256:" +
			strings.Repeat("a", 64) + "\n  minSignatures: " + n + "\n"
	}
	ok := fstest.MapFS{"fleet.yaml": {Data: []byte(fleet)}, "workloads/d.yaml": {Data: []byte(w("2"))}}
	repo, err := Parse(ok)
	if err != nil {
		t.Fatal(err)
	}
	plain := repo.Workloads["d"].Spec
	plain.MinSignatures = 0
	if repo.Workloads["d"].Spec.MinSignatures != 2 || HashSpec(repo.Workloads["d"].Spec) != HashSpec(plain) {
		t.Error("minSignatures must be read and must not change the container's hash")
	}
	bad := fstest.MapFS{"fleet.yaml": {Data: []byte(fleet)}, "workloads/d.yaml": {Data: []byte(w("-1"))}}
	_, err = Parse(bad)
	if err == nil || !strings.Contains(err.Error(), "workloads/d.yaml:6: spec.minSignatures: must be between 1 and 16") {
		t.Errorf("Parse = %v; want the line and field of minSignatures", err)
	}
}
