// Package image decides whether a container image may run: it resolves a
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
// Verification is key-based and offline: it talks to the registry and to
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
