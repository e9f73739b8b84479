package plan

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/gitfleet/gitfleet/secret"
)

// TestComputeSecretFileOnly: a change of nothing but a secret's encrypted
// file changes every node whose workload names it (the node files are not
// parsed again unless something may reach them: the secret must).
func TestComputeSecretFileOnly(t *testing.T) {
	const digest = "@sha256:cdbf25ce24ed4527fed4bfc09f1a23c684b3f55c38f2f6493ec19f8907177e95"
	_, encrypt := encrypter(t)
	repo := func(value []byte) fstest.MapFS {
		return fstest.MapFS{
			"fleet.yaml": {Data: []byte("apiVersion: gitfleet.dev/v1alpha1\nkind: Fleet\nmetadata: {name: f}\n")},
			"workloads/api.yaml": {Data: []byte("apiVersion: gitfleet.dev/v1alpha1\nkind: Workload\nmetadata: {name: api}\nspec:\n  image: r.example/api" + digest +
				"\n  secrets: [{name: token, file: secrets/token.age, env: API_TOKEN}]\n")},
			"secrets/token.age":  {Data: value},
			"groups/line-a.yaml": {Data: []byte("apiVersion: gitfleet.dev/v1alpha1\nkind: Group\nmetadata: {name: line-a}\nspec:\n  selector: {matchLabels: {line: a}}\n  workloads: [api]\n")},
			"nodes/a1.yaml":      {Data: []byte("apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata: {name: a1, labels: {line: a}}\n")},
			"nodes/b1.yaml":      {Data: []byte("apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata: {name: b1, labels: {line: b}}\n")},
		}
	}
	p, err := Compute(context.Background(), Revision{Name: "b", FS: repo(encrypt("one"))}, Revision{Name: "h", FS: repo(encrypt("two"))}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := p.Text(&b); err != nil {
		t.Fatal(err)
	}
	if len(p.Nodes) != 1 || p.Nodes[0].Name != "a1" || !strings.Contains(b.String(), "secrets.token") || !strings.Contains(b.String(), "new encrypted value") {
		t.Errorf("plan of a rotated secret:\n%s", b.String())
	}
}

// encrypter returns a new age identity's recipient and a function that
// encrypts a value to it, armored, as `fleetctl secret encrypt` writes a
// secret file.
func encrypter(t *testing.T) (string, func(string) []byte) {
	t.Helper()
	id, _, err := secret.LoadOrCreateIdentity(filepath.Join(t.TempDir(), "age.key"))
	if err != nil {
		t.Fatal(err)
	}
	return id.Recipient(), func(v string) []byte {
		b, err := secret.Encrypt([]byte(v), []string{id.Recipient()}, true)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

// samePlan fails unless got, the plan under test, is want, a full parse's
// plan of the same revisions, field for field as JSON.
func samePlan(t *testing.T, got, want any) {
	t.Helper()
	gj, _ := json.MarshalIndent(got, "", " ")
	wj, _ := json.MarshalIndent(want, "", " ")
	if string(gj) != string(wj) {
		t.Errorf("plan differs from a full parse's:\n%s\nwant\n%s", gj, wj)
	}
}
