package spec_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/gitfleet/gitfleet/spec"
)

const (
	secretImage = "registry.example.com/models/detector@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	// An age file's first line; the rest does not matter to spec.
	ageFile   = "age-encryption.org/v1\n-> X25519 c29tZQ\nbm90IHJlYWxseQ\n--- aGVhZGVy\n\x00\x01"
	armoredV2 = "-----BEGIN AGE ENCRYPTED FILE-----\nYWdlLWVuY3J5cHRpb24ub3JnL3YxCg==\n-----END AGE ENCRYPTED FILE-----\n"
	recipient = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
)

func secretRepo(workload, node string) fstest.MapFS {
	return fstest.MapFS{
		"fleet.yaml":           {Data: []byte("apiVersion: gitfleet.dev/v1alpha1\nkind: Fleet\nmetadata: {name: f}\nspec: {}\n")},
		"workloads/api.yaml":   {Data: []byte(workload)},
		"nodes/n1.yaml":        {Data: []byte(node)},
		"secrets/token.age":    {Data: []byte(ageFile)},
		"secrets/cert.age":     {Data: []byte(armoredV2)},
		"secrets/plain.txt":    {Data: []byte("hunter2\n")},
		"secrets/n1-token.age": {Data: []byte(ageFile + "n1")},
	}
}

const secretWorkload = `apiVersion: gitfleet.dev/v1alpha1
kind: Workload
metadata: {name: api}
spec:
  image: ` + secretImage + `
  env: {LOG: info}
  secrets:
    - {name: token, file: secrets/token.age, env: API_TOKEN}
    - {name: cert, file: secrets/cert.age, path: /run/secrets/cert}
`

const secretNode = `apiVersion: gitfleet.dev/v1alpha1
kind: Node
metadata: {name: n1}
spec:
  ageRecipient: ` + recipient + `
  workloads: [api]
`

// TestSecretsParse: a workload's secrets come back with their encrypted
// files read, and a node's override replaces them for that node.
func TestSecretsParse(t *testing.T) {
	repo, err := spec.Parse(secretRepo(secretWorkload, secretNode))
	if err != nil {
		t.Fatal(err)
	}
	got := repo.Workloads["api"].Spec.Secrets
	if len(got) != 2 || string(got[0].Data) != ageFile || string(got[1].Data) != armoredV2 || got[0].Env != "API_TOKEN" || got[1].Path != "/run/secrets/cert" {
		t.Fatalf("secrets = %+v", got)
	}
	if repo.Nodes["n1"].Spec.AgeRecipient != recipient {
		t.Errorf("ageRecipient = %q", repo.Nodes["n1"].Spec.AgeRecipient)
	}
	plain, err := repo.Resolve("n1", nil)
	if err != nil {
		t.Fatal(err)
	}

	// The node's own token replaces the workload's list.
	fsys := secretRepo(secretWorkload, secretNode+"  overrides:\n    api:\n      secrets: [{name: token, file: secrets/n1-token.age, env: API_TOKEN}]\n")
	repo, err = spec.Parse(fsys)
	if err != nil {
		t.Fatal(err)
	}
	over, err := repo.Resolve("n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := over[0].Spec.Secrets; len(s) != 1 || string(s[0].Data) != ageFile+"n1" {
		t.Errorf("overridden secrets = %+v", s)
	}
	if plain[0].Hash == over[0].Hash {
		t.Error("a different secret value leaves the spec hash unchanged: the container would keep the old value")
	}
}

// TestSecretHashFollowsValue: re-encrypting a value changes the spec hash,
// so the container is replaced; the same file gives the same hash.
func TestSecretHashFollowsValue(t *testing.T) {
	s := spec.WorkloadSpec{Image: secretImage, Secrets: []spec.Secret{{Name: "t", File: "secrets/t.age", Env: "T", Data: []byte("one")}}}
	same := s
	same.Secrets = []spec.Secret{{Name: "t", File: "secrets/t.age", Env: "T", Data: []byte("one")}}
	changed := s
	changed.Secrets = []spec.Secret{{Name: "t", File: "secrets/t.age", Env: "T", Data: []byte("two")}}
	if spec.HashSpec(s) != spec.HashSpec(same) {
		t.Error("the same secret hashes differently")
	}
	if spec.HashSpec(s) == spec.HashSpec(changed) {
		t.Error("a changed secret value hashes the same")
	}
}

// TestSecretErrors: every mistake is reported at its file, line and field.
func TestSecretErrors(t *testing.T) {
	for _, tt := range []struct {
		name, secrets, node string
		want                string
	}{
		{"missing file", `[{name: a, file: secrets/nope.age, env: A}]`, "", "workloads/api.yaml:8: spec.secrets[0].file: file secrets/nope.age is missing"},
		{"not encrypted", `[{name: a, file: secrets/plain.txt, env: A}]`, "", "workloads/api.yaml:8: spec.secrets[0].file: secrets/plain.txt is not an age-encrypted file"},
		{"both", `[{name: a, file: secrets/token.age, env: A, path: /run/a}]`, "", "workloads/api.yaml:8: spec.secrets[0]: want env or path, not both"},
		{"neither", `[{name: a, file: secrets/token.age}]`, "", "workloads/api.yaml:8: spec.secrets[0]: want env (an environment variable) or path"},
		{"env clash", `[{name: a, file: secrets/token.age, env: LOG}]`, "", "workloads/api.yaml:8: spec.secrets[0].env: variable LOG is also set in spec.env"},
		{"duplicate name", `[{name: a, file: secrets/token.age, env: A}, {name: a, file: secrets/cert.age, env: B}]`, "", "spec.secrets[1].name: duplicate secret \"a\""},
		{"proc path", `[{name: a, file: secrets/token.age, path: /proc/self/x}]`, "", "spec.secrets[0].path: must not be / nor under /proc"},
		{"relative path", `[{name: a, file: secrets/token.age, path: run/a}]`, "", "spec.secrets[0].path: must be an absolute path"},
		{"escaping file", `[{name: a, file: ../outside.age, env: A}]`, "", "spec.secrets[0].file: invalid path \"../outside.age\""},
		{"unknown field", `[{name: a, file: secrets/token.age, env: A, mode: "0644"}]`, "", "spec.secrets[0].mode"},
		{"bad recipient", `[]`, "  ageRecipient: ssh-ed25519 AAAA\n", "nodes/n1.yaml:5: spec.ageRecipient: invalid age recipient"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := "apiVersion: gitfleet.dev/v1alpha1\nkind: Workload\nmetadata: {name: api}\nspec:\n  image: " + secretImage +
				"\n  env: {LOG: info}\n  secrets:\n    " + strings.ReplaceAll(tt.secrets, "}, {", "}\n    - {")
			w = strings.Replace(w, "secrets:\n    [", "secrets:\n    - ", 1)
			w = strings.TrimSuffix(w, "]") + "\n"
			if tt.secrets == "[]" {
				w = strings.Replace(w, "  secrets:\n    - \n", "", 1)
			}
			node := "apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata: {name: n1}\nspec:\n" + tt.node
			if tt.node == "" {
				node += "  workloads: [api]\n"
			}
			_, err := spec.Parse(secretRepo(w, node))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse:\n%v\nwant an error containing %q\n--- workload\n%s", err, tt.want, w)
			}
		})
	}
}
