package image

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

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

// Options configure every registry read and write of the package.
type Options struct {
	// Registries configures plain HTTP and mirrors per registry host, as
	// in fleet.yaml. The sources spec.Sources lists are tried in order;
	// the first that holds the image is used for everything.
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
	// DockerConfig reads registry credentials from the Docker config
	// (~/.docker/config.json, or $DOCKER_CONFIG), as docker login writes
	// them. Default: anonymous.
	DockerConfig bool
	// Credentials are registry logins and client certificates (fleetd
	// --registry-config, fleetctl --registry-config); they win over
	// DockerConfig. With Credentials and no Transport, each host gets a
	// transport with its client certificate.
	Credentials *Credentials
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
	return defaultTransport()
}

func defaultTransport() http.RoundTripper { return http.DefaultTransport.(*http.Transport).Clone() }

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
	// Source is where the image and its signatures were read: pull
	// exactly from there (Verify sets it; VerifyStore leaves it empty).
	Source spec.ImageSource
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
// legacy or the sigstore bundle format. The image is looked for at the
// sources spec.Sources lists (mirrors first); the first that holds it is
// where everything is read, and Result.Source names it for the pull. A ref
// with a digest must be served under that digest; a ref with only a tag is
// resolved once and the Result says which digest was verified.
//
// A refusal matches ErrRefused (and is a *RefusedError naming the digest
// and the keys tried); an unreachable registry matches net.Error or the
// context's error.
func Verify(ctx context.Context, ref string, keys *KeySet, opts Options) (*Result, error) {
	img, opts, refused, err := prepare(ref, keys, opts)
	if err != nil {
		return nil, err
	}
	loc, err := locate(ctx, img, opts)
	if err != nil {
		return nil, verifyError(refused, err)
	}
	res, err := verifyAt(ctx, loc.st, img, loc.src.Digest, keys, opts, refused)
	if err != nil {
		return nil, err
	}
	res.Source = loc.src
	return res, nil
}

// VerifyStore is Verify for an image held in st, another kind of Store
// than a registry (an OCI image layout): the same checks, on what st holds
// for ref.
func VerifyStore(ctx context.Context, st Store, ref string, keys *KeySet, opts Options) (*Result, error) {
	img, opts, refused, err := prepare(ref, keys, opts)
	if err != nil {
		return nil, err
	}
	m, err := imageManifest(ctx, st, img, opts.MaxManifestBytes)
	if err != nil {
		return nil, verifyError(refused, err)
	}
	return verifyAt(ctx, st, img, sha256Digest(m), keys, opts, refused)
}

// prepare checks the inputs of a verification.
func prepare(ref string, keys *KeySet, opts Options) (spec.ImageRef, Options, *RefusedError, error) {
	if err := opts.Validate(); err != nil {
		return spec.ImageRef{}, opts, nil, fmt.Errorf("verify image %s: %w", ref, err)
	}
	opts = opts.withDefaults()
	refused := &RefusedError{Ref: ref, Keys: keys.Names()}
	if keys.Len() == 0 {
		refused.Reason = "no trusted keys"
		return spec.ImageRef{}, opts, nil, refused
	}
	img, err := spec.ParseImageRef(ref)
	if err != nil {
		refused.Reason = err.Error()
		return spec.ImageRef{}, opts, nil, refused
	}
	refused.Digest = img.Digest
	return img, opts, refused, nil
}

// verifyError turns a failure to find the image manifest into a refusal
// when the store served something wrong or oversized.
func verifyError(refused *RefusedError, err error) error {
	switch {
	case errors.Is(err, errBadContent):
		refused.Reason = strings.TrimPrefix(err.Error(), errBadContent.Error()+": ")
		return refused
	case errors.Is(err, errTooLarge):
		refused.Reason = "image " + err.Error()
		return refused
	}
	return fmt.Errorf("verify image %s: %w", refused.Ref, err)
}

// verifyAt looks for the signatures of the image with digest dgst in st.
func verifyAt(ctx context.Context, st Store, img spec.ImageRef, dgst string, keys *KeySet, opts Options, refused *RefusedError) (*Result, error) {
	refused.Digest = dgst
	v := &verification{st: st, opts: opts, keys: keys, digest: dgst, refused: refused}
	v.lookup(ctx)
	return v.result(img, opts.MinSignatures)
}

// verification is one Verify call's state.
type verification struct {
	st      Store
	opts    Options
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

// fail records err as a detail when it refuses one candidate (missing,
// too large, wrong digest) and as a failure of the verification
// otherwise.
func (v *verification) fail(what string, err error) {
	if !isCandidateRefusal(err) {
		v.mu.Lock()
		defer v.mu.Unlock()
		v.errs = append(v.errs, fmt.Errorf("%s: %w", what, err))
		return
	}
	v.detail("%s: %v", what, err)
}

// result decides.
func (v *verification) result(img spec.ImageRef, min int) (*Result, error) {
	byKey := map[string]bool{}
	res := &Result{Digest: v.digest, Ref: img.Name() + "@" + v.digest}
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
