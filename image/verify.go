package image

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/gitfleet/gitfleet/spec"
)

// Defaults of Options.
const (
	DefaultMaxManifestBytes = 4 << 20
	DefaultMaxBlobBytes     = 16 << 20
)

// maxCandidates bounds the signature layers and the referrers looked at
// per image, and so the requests one verification makes.
const maxCandidates = 32

// Options configure Verify, SignLegacy and SignBundle.
type Options struct {
	// Registries configures plain HTTP and mirrors per registry host, as
	// in fleet.yaml. Mirrors are tried first; the first that answers is
	// used for the whole verification.
	Registries []spec.Registry
	// MinSignatures is how many distinct trusted keys must have signed the
	// image. Default 1.
	MinSignatures int
	// MaxManifestBytes caps every manifest and index read. Default 4 MiB.
	MaxManifestBytes int64
	// MaxBlobBytes caps every signature payload or bundle read. Default
	// 16 MiB.
	MaxBlobBytes int64
	// Transport carries the requests. Default: a clone of
	// http.DefaultTransport per call; share one to reuse connections.
	Transport http.RoundTripper
}

// Validate reports options that cannot work.
func (o Options) Validate() error {
	var errs []error
	if o.MinSignatures < 0 {
		errs = append(errs, fmt.Errorf("minSignatures %d: want 1 or more", o.MinSignatures))
	}
	if o.MaxManifestBytes < 0 || o.MaxBlobBytes < 0 {
		errs = append(errs, errors.New("size caps must not be negative"))
	}
	return errors.Join(errs...)
}

func (o Options) withDefaults() Options {
	if o.MinSignatures == 0 {
		o.MinSignatures = 1
	}
	if o.MaxManifestBytes == 0 {
		o.MaxManifestBytes = DefaultMaxManifestBytes
	}
	if o.MaxBlobBytes == 0 {
		o.MaxBlobBytes = DefaultMaxBlobBytes
	}
	return o
}

func (o Options) transport() http.RoundTripper {
	if o.Transport != nil {
		return o.Transport
	}
	return http.DefaultTransport.(*http.Transport).Clone()
}

// Result is an accepted image.
type Result struct {
	// Digest is the verified image digest ("sha256:…"). Pull exactly this:
	// a tag may have moved since.
	Digest string
	// Ref is the repository pinned to Digest ("host/repo@sha256:…").
	Ref string
	// Signatures lists every valid signature found, in a stable order; a
	// key may appear more than once (in both formats, say).
	Signatures []Found
}

// Found is one valid signature of the image.
type Found struct {
	Format  Format
	KeyName string
	// Source is where it was found: the .sig tag or the referrer's digest.
	Source string
}

// Verify resolves ref to a digest and accepts the image only if at least
// opts.MinSignatures distinct trusted keys signed that digest, in the
// legacy or the sigstore bundle format. A ref with a digest must be served
// by the registry under that digest; a ref with only a tag is resolved once
// and the Result says which digest was verified.
//
// A refusal matches ErrRefused (and is a *RefusedError naming the digest
// and the keys tried); an unreachable registry matches net.Error or the
// context's error.
func Verify(ctx context.Context, ref string, keys *KeySet, opts Options) (*Result, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("verify image %s: %w", ref, err)
	}
	opts = opts.withDefaults()
	refused := &RefusedError{Ref: ref, Keys: keys.Names()}
	if keys.Len() == 0 {
		refused.Reason = "no trusted keys"
		return nil, refused
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		refused.Reason = err.Error()
		return nil, refused
	}
	c, err := dial(ctx, r.Context(), opts)
	if err != nil {
		return nil, fmt.Errorf("verify image %s: %w", ref, err)
	}
	v := &verification{c: c, keys: keys, refused: refused}

	if d, ok := r.(name.Digest); ok {
		v.digest = d.DigestStr()
		if !digestRE.MatchString(v.digest) {
			refused.Reason = fmt.Sprintf("digest %s: want sha256:<64 hex>", v.digest)
			return nil, refused
		}
		refused.Digest = v.digest
		// The digest is known: check that the registry serves it while
		// looking for signatures.
		var resolveErr error
		var wg sync.WaitGroup
		wg.Go(func() { _, resolveErr = v.resolve(ctx, v.digest) })
		v.lookup(ctx)
		wg.Wait()
		if resolveErr != nil {
			return nil, resolveErr
		}
	} else {
		if v.digest, err = v.resolve(ctx, r.Identifier()); err != nil {
			return nil, err
		}
		refused.Digest = v.digest
		v.lookup(ctx)
	}
	return v.result(r.Context(), opts.MinSignatures)
}

// verification is one Verify call's state.
type verification struct {
	c       *client
	keys    *KeySet
	digest  string
	refused *RefusedError

	mu      sync.Mutex
	found   []foundKey
	details []string
	errs    []error // failures that are not refusals
}

type foundKey struct {
	Found
	der string
}

// resolve fetches the image manifest by tag or digest and returns the
// digest of the bytes served.
func (v *verification) resolve(ctx context.Context, id string) (string, error) {
	resp, err := v.c.get(ctx, "/manifests/"+id, imageManifestTypes, v.c.opts.MaxManifestBytes)
	if errors.Is(err, errTooLarge) {
		v.refused.Reason = "image manifest " + err.Error()
		return "", v.refused
	}
	if err != nil {
		return "", fmt.Errorf("verify image %s: %w", v.refused.Ref, err)
	}
	if resp.status != http.StatusOK {
		return "", fmt.Errorf("verify image %s: manifest %s: registry answered %d %s", v.refused.Ref, id, resp.status, http.StatusText(resp.status))
	}
	got := sha256Digest(resp.body)
	if strings.HasPrefix(id, "sha256:") && got != id {
		v.refused.Reason = fmt.Sprintf("registry serves a manifest with digest %s for %s", got, id)
		return "", v.refused
	}
	return got, nil
}

func (v *verification) add(f Found, der []byte) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.found = append(v.found, foundKey{f, string(der)})
}

func (v *verification) detail(format string, args ...any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.details = append(v.details, fmt.Sprintf(format, args...))
}

// fail records err as a detail when it is a refusal of one candidate (too
// large, wrong digest) and as a failure of the verification otherwise.
func (v *verification) fail(what string, err error) {
	if transient(err) {
		v.mu.Lock()
		defer v.mu.Unlock()
		v.errs = append(v.errs, fmt.Errorf("%s: %w", what, err))
		return
	}
	v.detail("%s: %v", what, err)
}

// result decides.
func (v *verification) result(repo name.Repository, min int) (*Result, error) {
	byKey := map[string]bool{}
	res := &Result{Digest: v.digest, Ref: repo.Digest(v.digest).String()}
	for _, f := range v.found {
		byKey[f.der] = true
		res.Signatures = append(res.Signatures, f.Found)
	}
	sortFound(res.Signatures)
	if len(byKey) >= min {
		return res, nil
	}
	if len(v.errs) > 0 {
		return nil, fmt.Errorf("verify image %s (%s): %w", v.refused.Ref, v.digest, errors.Join(v.errs...))
	}
	switch {
	case len(byKey) > 0:
		v.refused.Reason = fmt.Sprintf("signed by %d distinct trusted keys, %d required", len(byKey), min)
	case len(v.details) == 0:
		v.refused.Reason = "no signature found"
	default:
		v.refused.Reason = "no valid signature by a trusted key"
	}
	sortStrings(v.details)
	v.refused.Details = v.details
	return nil, v.refused
}
