package image

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/gitfleet/gitfleet/fault"
	"github.com/gitfleet/gitfleet/spec"
)

// RevisionVerifier checks images for the agent: against the node's own
// image keys and the keys each revision names, with one HTTP transport
// kept across calls. It satisfies reconciler.ImageVerifier.
type RevisionVerifier struct {
	local     map[string][]byte
	transport http.RoundTripper
	creds     *Credentials
}

// NewRevisionVerifier returns a RevisionVerifier trusting local (PEM
// public keys by name, see LoadKeyDir) besides each revision's keys.
func NewRevisionVerifier(local map[string][]byte) *RevisionVerifier {
	return &RevisionVerifier{local: local, transport: defaultTransport()}
}

// WithCredentials makes v sign in to registries with c (and use c's
// client certificates, with one transport per host kept across calls).
func (v *RevisionVerifier) WithCredentials(c *Credentials) *RevisionVerifier {
	v.creds, v.transport = c, nil
	return v
}

// VerifyImage accepts ref, pinned by digest, only if at least
// minSignatures distinct trusted keys (0 means 1) signed it: the node's
// own keys and keys, the PEM keys the revision names (fleet.yaml
// spec.trust.images.keys) by path. It returns the source the image was
// verified at, which the runtime pulls from. Refusals, a bad key among
// them, and no key at all are of class fault.Refused; a registry that
// cannot be reached is transient.
func (v *RevisionVerifier) VerifyImage(ctx context.Context, ref string, registries []spec.Registry, keys map[string][]byte, minSignatures int) (spec.ImageSource, error) {
	ks, err := revisionKeys(ref, v.local, keys)
	if err != nil {
		return spec.ImageSource{}, err
	}
	return NewVerifier(ks, Options{Transport: v.transport, Credentials: v.creds, MinSignatures: minSignatures}).VerifyImage(ctx, ref, registries)
}

// revisionKeys are the keys an image of a revision is checked with: the
// node's own and the revision's. None at all, or a bad one, is a refusal.
func revisionKeys(ref string, local, revision map[string][]byte) (*KeySet, error) {
	all := maps.Clone(local)
	if all == nil {
		all = map[string][]byte{}
	}
	maps.Copy(all, revision)
	if len(all) == 0 {
		return nil, &RefusedError{Ref: ref, Reason: "no trusted image keys: list them in fleet.yaml spec.trust.images.keys or put *.pub files in the node's trust dir"}
	}
	ks, err := ParsePublicKeys(all)
	if err != nil {
		return nil, fault.Refuse(ref, fmt.Errorf("image keys: %w", err))
	}
	return ks, nil
}

// LoadKeyDir reads the image keys of a node's trust directory: every *.pub
// file directly in dir, by path. A directory that does not exist holds no
// keys.
func LoadKeyDir(dir string) (map[string][]byte, error) {
	keys := map[string][]byte{}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return keys, nil
	}
	if err != nil {
		return nil, fmt.Errorf("image keys: %w", err)
	}
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".pub") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("image keys: %w", err)
		}
		keys[p] = b
	}
	return keys, nil
}
