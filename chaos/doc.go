// Package chaos injects faults into a node on real parts (fleetd built
// from this tree, git http-backend and Debian's docker-registry each behind
// a proxy that can go down or cut a response, a private containerd with
// runc) and checks what the issue of crash safety asks: after each fault
// clears, the first pass converges to the branch head, no good spec is
// marked failed, no container is orphaned, duplicated or missing, a
// workload no change touches is never restarted, an outage makes at most
// two status commits of its class, and a cut pull fetches under 1 % of its
// layer again.
//
// The faults: fleetd killed with SIGKILL at random points of its passes
// (add, change env, change image, remove); containerd killed with SIGKILL
// at random points of a pass and started again, under fleetd --once and
// under a long-running fleetd; the git server and the registry down and
// back; the state dir on a small loop-mounted ext4 filled up, then freed;
// a pull cut at a random offset with the registry away for a random
// while. `go test ./chaos` (part of `make test`) tries a few points of
// each; `make chaos` tries 100 kill points and 20 of each other fault and
// writes the figures into bench/RESULTS.md. It runs as root.
package chaos
