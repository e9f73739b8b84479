// Package image is gitfleet's one registry adapter. It finds an image at
// the first of the sources spec.Sources lists (mirrors, then the registry:
// the one place mirrors and plain HTTP get their meaning), and there it
// verifies signatures (Verify, Verifier), resolves tags for fleetctl pin
// (Resolve) and reads layer sizes for fleetctl plan (Sizer). Verify
// returns the exact source it checked, a spec.ImageSource, which the
// runtime pulls from without deciding anything itself.
//
// Everything is read through Store, a small interface over one
// repository's manifests, referrers and blobs. A registry (or mirror)
// reached over HTTP is one Store; an OCI image layout, as on a USB stick,
// can be another (VerifyStore), with the same checks: a Store only finds
// bytes, and the checks (size caps, digests, subjects) are made here.
// Registry credentials are decided in one place (Options.authenticator).
//
// It decides whether a container image may run: it resolves a
// reference to a digest and accepts the image only if enough trusted keys
// signed exactly that digest, in either of the formats cosign writes:
//
//   - the legacy format: the tag sha256-<hex>.sig in the image's repository
//     holds a manifest whose layers are simple-signing payloads, each with
//     its signature in the annotation dev.cosignproject.cosign/signature;
//   - the sigstore bundle format (v0.3): OCI 1.1 referrers of the image,
//     found through the registry's referrers API or, on registries without
//     it, through the fallback tag sha256-<hex>, each holding one bundle
//     whose DSSE envelope signs an in-toto statement about the image.
//
// Verification is key-based and offline: it talks to the store and to
// nothing else (no transparency log, no TUF, no certificate authority).
// Every manifest and blob it reads is capped in size, and it never reads an
// image layer. A signature counts only when it is valid under a trusted key
// and the digest it signs equals the image's digest; an in-toto statement
// counts only with the predicate type https://sigstore.dev/cosign/sign/v1,
// so an attestation is not a signature.
//
// Errors come in two kinds the caller must tell apart: every refusal
// (unsigned, wrong key, digest mismatch, attestation only, oversized)
// matches ErrRefused with errors.Is and will not change by retrying; a
// registry that cannot be reached (connection refused, timeout, 5xx)
// yields an error that matches net.Error with errors.As, or the context's
// error, and is worth retrying.
//
// SignLegacy and SignBundle write signatures in both formats, as the real
// cosign writes them, for `fleetctl sign image` and for tests.
//
// The package wraps go-containerregistry and the standard library's crypto
// and nothing heavier.
package image
