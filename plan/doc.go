// Package plan is what a pull request to a fleet repo needs: Check
// parses a revision, resolves every node and adds warnings for likely
// mistakes; Compute is the fleet-wide plan between two revisions (per node:
// workloads added, changed and removed, and the bytes each node will
// download); Load parses a large fleet repo with the nodes split across
// CPUs.
//
// plan reads revisions as fs.FS and registries through a small Manifests
// interface (image.Sizer, the registry adapter, is the implementation), so
// it is tested and benchmarked without a command line. It never logs.
package plan
