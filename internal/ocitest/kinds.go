package ocitest

import "testing"

// Kind is one of the real registries a test runs against where
// registries differ.
type Kind struct {
	Name      string
	Start     func(testing.TB) (host string)
	Referrers bool // has the OCI referrers API
}

// Kinds are both real registries: go-containerregistry's in-memory one
// (NewRegistry, with the referrers API) and Debian's docker-registry
// (StartDockerRegistry, distribution 2.8, without it).
func Kinds() []Kind {
	return []Kind{
		{Name: "ggcr", Start: NewRegistry, Referrers: true},
		{Name: "distribution", Start: StartDockerRegistry, Referrers: false},
	}
}
