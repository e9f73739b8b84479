package spec_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/trust"
)

// sshLine builds an authorized_keys line of typ from wire fields.
func sshLine(typ string, fields ...[]byte) string {
	wire := func(b []byte) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...) }
	blob := wire([]byte(typ))
	for _, f := range fields {
		blob = append(blob, wire(f)...)
	}
	return typ + " " + base64.StdEncoding.EncodeToString(blob)
}

func TestStatusKey(t *testing.T) {
	key := sha256.Sum256([]byte("k"))
	good := sshLine("ssh-ed25519", key[:]) + " fleetd@n1"
	point := append([]byte{4}, make([]byte, 64)...)
	for _, tt := range []struct {
		name, key, want string // want "" parses
	}{
		{"ed25519", good, ""},
		{"ecdsa", sshLine("ecdsa-sha2-nistp256", []byte("nistp256"), point), ""},
		{"not a key", "hello", "nodes/n1.yaml:5: spec.statusKey: invalid status key: want an SSH public key"},
		{"age recipient", "age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq x", "unsupported SSH key type"},
		{"options", `restrict ` + good, "unsupported SSH key type"},
		{"bad base64", "ssh-ed25519 AAAA!!", "not valid base64"},
		{"type mismatch", strings.Replace(sshLine("ssh-rsa", []byte{1}, []byte{2}), "ssh-rsa", "ssh-ed25519", 1), "key data is not an ssh-ed25519 key"},
		{"short key", sshLine("ssh-ed25519", key[:16]), "16 bytes, want 32"},
		{"truncated", "ssh-ed25519 " + base64.StdEncoding.EncodeToString([]byte{0, 0, 0, 11, 's', 's', 'h'}), "truncated"},
		{"extra field", sshLine("ssh-ed25519", key[:], key[:]), "2 fields, want 1"},
		{"wrong curve", sshLine("ecdsa-sha2-nistp256", []byte("nistp384"), point), "names curve"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{
				"fleet.yaml":    {Data: []byte("apiVersion: gitfleet.dev/v1alpha1\nkind: Fleet\nmetadata: {name: f}\n")},
				"nodes/n1.yaml": {Data: []byte("apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata: {name: n1}\nspec:\n  statusKey: " + tt.key + "\n")},
			}
			repo, err := spec.Parse(fsys)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Parse: %v", err)
			case tt.want == "" && repo.Nodes["n1"].Spec.StatusKey != tt.key:
				t.Errorf("statusKey = %q, want %q", repo.Nodes["n1"].Spec.StatusKey, tt.key)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "nodes/n1.yaml:5: spec.statusKey:")):
				t.Errorf("Parse = %v, want an error at nodes/n1.yaml:5: spec.statusKey with %q", err, tt.want)
			}
		})
	}
}

// FuzzCheckStatusKey: a node file's statusKey is outside input. The check
// never panics, and an ed25519 line it accepts is one the trust package
// (x/crypto/ssh) reads as that key.
func FuzzCheckStatusKey(f *testing.F) {
	key := sha256.Sum256([]byte("k"))
	f.Add(sshLine("ssh-ed25519", key[:]) + " fleetd@n1")
	f.Add(sshLine("ecdsa-sha2-nistp256", []byte("nistp256"), append([]byte{4}, make([]byte, 64)...)))
	f.Add("ssh-ed25519 AAAA")
	f.Add(`restrict ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA x`)
	f.Fuzz(func(t *testing.T, line string) {
		err := spec.CheckStatusKey(line)
		if err != nil || !strings.HasPrefix(line, "ssh-ed25519 ") {
			return
		}
		if _, perr := trust.ParseStatusKey(line); perr != nil {
			t.Fatalf("spec accepts %q, trust refuses it: %v", line, perr)
		}
	})
}
