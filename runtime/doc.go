// Package runtime is gitfleet's containerd adapter. It satisfies the
// reconciler's Runtime interface without importing the reconciler: it pulls
// images by digest through containerd's own client (one lease per pull, so an
// interrupted pull resumes from containerd's content store), creates,
// replaces and removes containers, and rebuilds the agent's view of what runs
// from containerd alone.
//
// Every container the agent owns carries the labels LabelManaged,
// LabelWorkload, LabelSpecHash and LabelRevision. Container IDs are
// <workload>-<first 12 hex of the spec hash>, so the new version of a
// workload can coexist with the old one while it starts.
//
// The Supervisor restarts exited tasks by their restart policy (label
// LabelRestart) with exponential backoff and flags crash loops; Exec runs a
// command in a workload's container (exec health probes); GC removes images
// nothing needs; resources.gpus become CDI devices; List and Run see and
// repair drift made by hand (see drift.go and docs/health.md).
//
// Every container runs in a sandbox (sandbox.go): containerd's seccomp
// profile, no-new-privileges, a small capability set, its own network
// namespace with its declared ports mapped through the CNI plugins
// (network.go), and mount sources opened without following links at every
// start (mount.go). It never touches a container without LabelManaged. The
// shim writes their output to <LogDir>/<workload>.log, so workloads and
// their logs outlive the agent.
package runtime
