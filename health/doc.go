// Package health probes workloads by their spec.Health: an HTTP GET on
// 127.0.0.1 (a workload's declared ports are mapped to the host's, or it
// shares the host's network), a TCP connect, or a command
// run inside the container. A Monitor probes a set of workloads, each on its
// own period, with a start-up grace, a timeout and a failure threshold, and
// keeps a verdict per workload: starting, healthy or unhealthy. The
// reconciler waits for the verdict of a new version before it removes the
// old one, and rolls back on unhealthy.
//
// health imports spec, fault and the standard library only; exec probes go
// through the small Execer interface, which runtime.Containerd satisfies. A
// probe that could not run at all (an Execer error of class
// fault.Transient: containerd not answering) leaves the verdict as it was.
package health
