// Package chaos kills fleetd, built from this tree, with SIGKILL at random
// points of its passes over the real parts (a git server, Debian's
// docker-registry, a private containerd with runc) and checks that the
// next agent converges to the branch head: no good spec marked failed, no
// orphan, duplicate or missing container. `go test ./chaos` (part of `make
// test`) tries a few kill points; `make chaos` tries -points of them and
// writes its figures into bench/RESULTS.md.
package chaos
