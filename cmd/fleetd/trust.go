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

// verifiers reads the node's trust dir: commit keys (allowed_signers,
// *.asc, *.gpg) for trust, image keys (*.pub) for image. A trust dir that
// does not exist holds no keys. It returns a commit checker for a
// repository, nil without commit keys (then every revision is refused),
// and the image keys.
func verifiers(cfg *Config, log *slog.Logger) (func(*source.Git) reconciler.CommitVerifier, map[string][]byte, error) {
	opts := trust.Options{Mode: trust.Mode(cfg.VerifyMode), AllowRevisions: cfg.AllowRevisions}
	if err := opts.Validate(); err != nil {
		return nil, nil, err
	}
	commitKeys, err := trust.LoadDir(cfg.TrustDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, err
	}
	var checker func(*source.Git) reconciler.CommitVerifier
	if commitKeys.Len() > 0 {
		checker = func(g *source.Git) reconciler.CommitVerifier { return trust.NewChecker(g, commitKeys, opts) }
	} else {
		log.Warn("no commit keys in the trust dir: every revision will be refused", "trustDir", cfg.TrustDir)
	}
	imageKeys, err := image.LoadKeyDir(cfg.TrustDir)
	if err != nil {
		return nil, nil, err
	}
	return checker, imageKeys, nil
}

// registryCredentials reads the registry logins and client certificates
// that image verification and pulls share. The default file may be
// missing (anonymous); a file named in the config must exist.
func registryCredentials(cfg *Config) (*image.Credentials, error) {
	file, missingOK := cfg.RegistryConfig, false
	if file == "" {
		file, missingOK = defaultRegistryConfig, true
	}
	return image.LoadCredentials(file, cfg.RegistryCertsDir, missingOK)
}
