// Package ocitest starts real OCI registries for tests and pushes images
// into them: go-containerregistry's in-memory registry (with the referrers
// API) and Debian's docker-registry (CNCF distribution 2.8) as a process.
//
// Every function takes a testing.TB, registers its own cleanup and fails
// the test (never skips it) when something cannot start.
package ocitest
