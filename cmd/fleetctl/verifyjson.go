package main

import (
	"github.com/gitfleet/gitfleet/image"
	"github.com/gitfleet/gitfleet/trust"
)

// The JSON of verify image and verify commit. The library types have no
// JSON tags of their own; these views give every field its camelCase name
// (as status and plan write theirs), and keep the output's shape fixed
// when the libraries change.

type imageVerifiedJSON struct {
	Ref      string            `json:"ref"`
	Verified bool              `json:"verified"`
	Result   *imageResultJSON  `json:"result,omitempty"`
	Source   string            `json:"source,omitempty"`
	Refusal  *imageRefusalJSON `json:"refusal,omitempty"`
}

type imageResultJSON struct {
	Digest     string               `json:"digest"`
	Ref        string               `json:"ref"`
	Signatures []imageSignatureJSON `json:"signatures"`
}

type imageSignatureJSON struct {
	Format  string `json:"format"`
	KeyName string `json:"keyName"`
	Source  string `json:"source"`
}

type imageRefusalJSON struct {
	Ref     string   `json:"ref"`
	Digest  string   `json:"digest,omitempty"`
	Keys    []string `json:"keys"`
	Reason  string   `json:"reason"`
	Details []string `json:"details,omitempty"`
}

func imageVerifiedView(ref string, res *image.Result) imageVerifiedJSON {
	r := &imageResultJSON{Digest: res.Digest, Ref: res.Ref, Signatures: []imageSignatureJSON{}}
	for _, s := range res.Signatures {
		r.Signatures = append(r.Signatures, imageSignatureJSON{Format: string(s.Format), KeyName: s.KeyName, Source: s.Source})
	}
	return imageVerifiedJSON{Ref: ref, Verified: true, Result: r, Source: res.Source.String()}
}

func imageRefusedView(ref string, re *image.RefusedError) imageVerifiedJSON {
	v := imageVerifiedJSON{Ref: ref}
	if re != nil {
		keys := re.Keys
		if keys == nil {
			keys = []string{}
		}
		v.Refusal = &imageRefusalJSON{Ref: re.Ref, Digest: re.Digest, Keys: keys, Reason: re.Reason, Details: re.Details}
	}
	return v
}

type commitVerifiedJSON struct {
	Commit   string      `json:"commit"`
	Verified bool        `json:"verified"`
	Signer   *signerJSON `json:"signer,omitempty"`
	Reason   string      `json:"reason,omitempty"`
}

type signerJSON struct {
	Kind        string `json:"kind"`
	Principal   string `json:"principal"`
	Fingerprint string `json:"fingerprint"`
}

func signerView(s trust.Signer) *signerJSON {
	return &signerJSON{Kind: s.Kind, Principal: s.Principal, Fingerprint: s.Fingerprint}
}
