package main

import (
	"errors"
	"io/fs"
	"log/slog"

	"github.com/gitfleet/gitfleet/image"
	"github.com/gitfleet/gitfleet/reconciler"
	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/trust"
)

// verifiers wires the commit and image checks from the node's trust dir:
// commit keys (allowed_signers, *.asc, *.gpg) for trust, image keys (*.pub)
// for image. A trust dir that does not exist holds no keys; without commit
// keys every revision is refused.
func verifiers(cfg *Config, src *source.Git, deps *reconciler.Deps, log *slog.Logger) error {
	opts := trust.Options{Mode: trust.Mode(cfg.VerifyMode), AllowRevisions: cfg.AllowRevisions}
	if err := opts.Validate(); err != nil {
		return err
	}
	commitKeys, err := trust.LoadDir(cfg.TrustDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if commitKeys.Len() > 0 {
		deps.Commits = trust.NewChecker(src, commitKeys, opts)
	} else {
		log.Warn("no commit keys in the trust dir: every revision will be refused", "trustDir", cfg.TrustDir)
	}
	imageKeys, err := image.LoadKeyDir(cfg.TrustDir)
	if err != nil {
		return err
	}
	deps.Images = image.NewRevisionVerifier(imageKeys)
	return nil
}
