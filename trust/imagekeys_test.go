package trust

import (
	"context"
	"testing"
)

// fleetYAML is a fleet.yaml naming the given image keys.
func fleetYAML(poll string, keys ...string) string {
	s := "apiVersion: gitfleet.dev/v1alpha1\nkind: Fleet\nmetadata: {name: f}\nspec:\n  pollInterval: " + poll + "\n  trust:\n    images:\n      keys:\n"
	for _, k := range keys {
		s += "        - " + k + "\n"
	}
	return s
}

// TestImageKeyRotation: a signer trusted only through the repo's trust/
// (dev) cannot change which image keys a node trusts: neither by naming
// another key in fleet.yaml (inside trust/ or anywhere else) nor by adding
// one to trust/. The node's own key can; dev's other fleet.yaml changes
// stay accepted.
func TestImageKeyRotation(t *testing.T) {
	root := newSSHKey(t, "ed25519") // the node's own key (--trust-dir)
	dev := newSSHKey(t, "ed25519")  // trusted only through trust/
	local := parseSet(t, map[string]string{"allowed_signers": "root " + root.line})
	ctx := context.Background()

	setup := func(t *testing.T) (*repo, string) {
		r := newRepo(t)
		r.Write("trust/allowed_signers", "dev "+dev.line+"\n")
		r.Write("trust/cosign.pub", "ops image key\n")
		r.Write("trust/old.pub", "retired image key, no longer named\n")
		r.Write("fleet.yaml", fleetYAML("30s", "trust/cosign.pub"))
		return r, r.commit(root.sign(), "root: trust dev, image key cosign.pub")
	}
	cases := []struct {
		name  string
		write map[string]string
		want  string // "" when accepted
	}{
		{"dev changes pollInterval", map[string]string{"fleet.yaml": fleetYAML("10s", "trust/cosign.pub")}, ""},
		{"dev names a key outside trust/", map[string]string{
			"models-keys/k.pub": "attacker key\n",
			"fleet.yaml":        fleetYAML("30s", "trust/cosign.pub", "models-keys/k.pub"),
		}, "fleet.yaml spec.trust.images.keys was changed by commit"},
		{"dev names a retired key already in trust/", map[string]string{
			"fleet.yaml": fleetYAML("30s", "trust/cosign.pub", "trust/old.pub"),
		}, "fleet.yaml spec.trust.images.keys was changed by commit"},
		{"dev replaces the named key", map[string]string{
			"fleet.yaml": fleetYAML("30s", "trust/old.pub"),
		}, "fleet.yaml spec.trust.images.keys was changed by commit"},
		{"dev rewrites the named key file", map[string]string{
			"trust/cosign.pub": "attacker key\n",
		}, "trust/ was changed by commit"},
		{"dev adds and names a key in trust/", map[string]string{
			"trust/k.pub": "attacker key\n",
			"fleet.yaml":  fleetYAML("30s", "trust/cosign.pub", "trust/k.pub"),
		}, "trust/ and fleet.yaml spec.trust.images.keys was changed by commit"},
		{"dev breaks fleet.yaml", map[string]string{"fleet.yaml": "spec: [\n"}, "fleet.yaml spec.trust.images.keys was changed by commit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, base := setup(t)
			for p, c := range tc.write {
				r.Write(p, c)
			}
			change := r.commit(dev.sign(), tc.name)
			r.Write("a.txt", "later\n")
			later := r.commit(dev.sign(), "dev: a later change")
			for _, mode := range []Mode{ModeHead, ModeAll} {
				v := NewVerifier(r.open, local, Options{Mode: mode})
				for _, rev := range []string{change, later} {
					err := v.VerifyCommit(ctx, rev, base)
					if tc.want == "" {
						if err != nil {
							t.Errorf("mode %s: %v", mode, err)
						}
						continue
					}
					want := rev
					if mode == ModeAll {
						want = change
					}
					wantRefused(t, err, want, tc.want+" "+change)
				}
			}
			if tc.want == "" {
				return
			}
			// The node's key endorses the change: dev's commits apply again.
			endorsed := r.commit(root.sign(), "root endorses")
			r.Write("b.txt", "after\n")
			after := r.commit(dev.sign(), "dev after endorsement")
			if err := NewVerifier(r.open, local, Options{}).VerifyCommit(ctx, after, endorsed); err != nil {
				t.Errorf("after the node's key signed the change: %v", err)
			}
		})
	}
}
