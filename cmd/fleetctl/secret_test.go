package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/secret"
)

// TestSecretEncrypt: a value encrypted to nodes picked by name or labels
// opens with exactly those nodes' identities, and the file does not hold
// it in clear; a node without a recipient or no match is an error.
func TestSecretEncrypt(t *testing.T) {
	repo := t.TempDir()
	ids := map[string]*secret.Identity{}
	for _, n := range []struct{ name, labels string }{{"press-01", "site: a"}, {"press-02", "site: a"}, {"oven-01", "site: b"}} {
		id, _, err := secret.LoadOrCreateIdentity(filepath.Join(t.TempDir(), n.name+".key"))
		if err != nil {
			t.Fatal(err)
		}
		ids[n.name] = id
		writeNode(t, repo, n.name, n.labels, "  ageRecipient: "+id.Recipient()+"\n")
	}
	writeNode(t, repo, "new-01", "site: c", "")
	value := "s3cr3t-" + filepath.Base(t.TempDir())
	in := filepath.Join(t.TempDir(), "value")
	if err := os.WriteFile(in, []byte(value), 0o600); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(repo, "secrets", "site-a.age")
	r := fleetctl(t, "secret", "encrypt", "--repo", repo, "--to", "label:site=a", "--in", in, "--out", out)
	if r.code != 0 || !strings.Contains(r.stdout, "press-01, press-02") {
		t.Fatalf("encrypt --to label:site=a: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	enc, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(enc), value) || !secret.IsArmored(enc) {
		t.Errorf("%s is not an armored age file without the value:\n%s", out, enc)
	}
	for name, id := range ids {
		got, err := id.Decrypt(enc)
		want := name != "oven-01"
		if want && (err != nil || string(got) != value) {
			t.Errorf("%s cannot open the value: %v", name, err)
		}
		if !want && err == nil {
			t.Errorf("%s, not on site a, opened the value", name)
		}
	}

	out = filepath.Join(repo, "secrets", "oven.age")
	if r := fleetctl(t, "secret", "encrypt", "--repo", repo, "--to", "node:oven-01", "--in", in, "--out", out); r.code != 0 {
		t.Fatalf("encrypt --to node:oven-01: exit %d\n%s", r.code, r.stderr)
	}
	if enc, _ := os.ReadFile(out); !opens(ids["oven-01"], enc) || opens(ids["press-01"], enc) {
		t.Error("a value for node oven-01 is not for oven-01 alone")
	}

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--to", "label:site=c"}, 1, "no spec.ageRecipient in nodes/new-01.yaml"},
		{[]string{"--to", "node:nope"}, 1, "no node in nodes/*.yaml matches"},
		{[]string{"--to", "press-01"}, 2, "want node:NAME or label:K=V"},
		{nil, 2, "name the readers"},
	} {
		args := append([]string{"secret", "encrypt", "--repo", repo, "--in", in, "--out", filepath.Join(repo, "x.age")}, tc.args...)
		if r := fleetctl(t, args...); r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tc.args, r.code, r.stderr, tc.code, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(repo, "x.age")); err == nil {
		t.Error("a refused encrypt wrote its file")
	}
}

func opens(id *secret.Identity, enc []byte) bool {
	_, err := id.Decrypt(enc)
	return err == nil
}

func writeNode(t *testing.T, repo, name, labels, specExtra string) {
	t.Helper()
	body := "apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata:\n  name: " + name + "\n  labels: {" + labels + "}\nspec:\n  workloads: []\n" + specExtra
	if err := os.MkdirAll(filepath.Join(repo, "nodes"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "nodes", name+".yaml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}
