package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/gitfleet/gitfleet/fault"
	"github.com/gitfleet/gitfleet/image"
	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/trust"
)

// maxVerifyDepth bounds how far back fleetd fetches history to prove that a
// new head descends from the last applied revision.
const maxVerifyDepth = 4096

// commitVerifier checks commit signatures and ancestry with the trust
// package, fetching more history from the source when it needs it.
type commitVerifier struct {
	src   *source.Git
	local *trust.TrustSet
	opts  trust.Options
	node  string
}

// VerifyCommit satisfies reconciler.CommitVerifier.
func (c *commitVerifier) VerifyCommit(ctx context.Context, rev, lastApplied string) error {
	opts := c.opts
	if c.modeAll(ctx, rev) {
		opts.Mode = trust.ModeAll
	}
	v := trust.NewVerifier(c.src.Repository, c.local, opts)
	for depth := 16; ; depth *= 4 {
		err := v.VerifyCommit(ctx, rev, lastApplied)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, trust.ErrRefused):
			return fault.Refuse(rev, err)
		case !errors.Is(err, trust.ErrHistoryMissing):
			return err
		case depth > maxVerifyDepth:
			return fault.Refuse(rev, fmt.Errorf("%w: the last applied revision %s is more than %d commits back", err, lastApplied, maxVerifyDepth))
		}
		if err := c.src.Deepen(ctx, depth); err != nil {
			return err
		}
	}
}

// modeAll reports whether every commit must be verified: the node's own
// setting, or the new revision's fleet.yaml (which can only make it
// stricter; a revision that asks for "head" cannot weaken "all").
func (c *commitVerifier) modeAll(ctx context.Context, rev string) bool {
	if c.opts.Mode == trust.ModeAll {
		return true
	}
	fsys, err := c.src.Tree(ctx, rev)
	if err != nil {
		return false
	}
	repo, err := spec.ParseForNode(fsys, c.node)
	return err == nil && repo.Fleet.Spec.Trust.Commits.Mode == spec.CommitModeAll
}

// imageVerifier checks cosign signatures offline with the node's own image
// keys (*.pub in --trust-dir) and the keys the revision names.
type imageVerifier struct {
	local map[string][]byte
	// transport keeps connections to the registry between verifications.
	transport http.RoundTripper
}

// VerifyImage satisfies reconciler.ImageVerifier.
func (v *imageVerifier) VerifyImage(ctx context.Context, ref string, registries []spec.Registry, keys map[string][]byte, minSignatures int) error {
	all := make(map[string][]byte, len(v.local)+len(keys))
	for name, pem := range v.local {
		all[name] = pem
	}
	for name, pem := range keys {
		all[name] = pem
	}
	if len(all) == 0 {
		return fault.Refuse("", errors.New("no trusted image keys: list them in fleet.yaml spec.trust.images.keys or put *.pub files in --trust-dir"))
	}
	ks, err := image.ParsePublicKeys(all)
	if err != nil {
		return fault.Refuse("", err)
	}
	if _, err := image.NewVerifier(ks, image.Options{Transport: v.transport, MinSignatures: minSignatures}).Verify(ctx, ref, registries); err != nil {
		if errors.Is(err, image.ErrRefused) {
			return fault.Refuse("", err)
		}
		return err
	}
	return nil
}

// loadTrust reads the node's trust directory: commit keys (allowed_signers,
// *.asc, *.gpg) and image keys (*.pub). A missing directory is empty.
func loadTrust(dir string) (*trust.TrustSet, map[string][]byte, error) {
	images := map[string][]byte{}
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, images, nil
	}
	commits, err := trust.LoadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".pub") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, nil, err
		}
		images[filepath.Join(dir, e.Name())] = b
	}
	return commits, images, nil
}
