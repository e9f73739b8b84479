package runtime

import (
	"fmt"
	"os"
	"slices"

	"github.com/containerd/containerd/contrib/seccomp"
	"github.com/containerd/containerd/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/gitfleet/gitfleet/spec"
)

// The sandbox every workload runs in (docs/sandbox.md). On top of
// containerd's default OCI spec, which already gives private PID, IPC, UTS
// and mount namespaces, a read-only /sys, masked and read-only /proc paths,
// a device cgroup that denies all but the standard devices, and
// no-new-privileges:
//
//   - capabilities: spec.DefaultCapabilities (Podman's rootful set), less
//     what the workload drops, plus what it adds (fleet.yaml allows);
//   - seccomp: containerd's default profile (Docker's), derived from those
//     capabilities, so that mount, unshare, keyctl, bpf and the like fail
//     unless a capability the fleet allowed calls for them;
//   - no-new-privileges, set explicitly;
//   - a pids limit (Podman's default);
//   - a private cgroup namespace on cgroup v2 (Docker's and CRI's default
//     there);
//   - the workload's user, read-only root and network.

// DefaultPidsLimit bounds the processes and threads of one container.
const DefaultPidsLimit = 2048

// sandboxOpts returns the OCI spec options of d's sandbox. They must come
// after the image's config (which sets the image's user).
func (c *Containerd) sandboxOpts(id string, d spec.Desired) []oci.SpecOpts {
	ws := d.Spec
	opts := []oci.SpecOpts{
		oci.WithCapabilities(capabilitySet(ws.Capabilities)),
		// Must follow the capabilities: the profile allows the system calls
		// they call for.
		seccomp.WithDefaultProfile(),
		oci.WithNoNewPrivileges,
		oci.WithPidsLimit(DefaultPidsLimit),
	}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.CgroupNamespace}))
	}
	if ws.User != "" {
		opts = append(opts, oci.WithUser(ws.User))
	}
	if ws.ReadOnlyRootFilesystem {
		opts = append(opts, oci.WithRootFSReadonly())
	}
	switch networkOf(ws) {
	case spec.NetworkHost:
		opts = append(opts, oci.WithHostNamespace(specs.NetworkNamespace), oci.WithHostHostsFile, oci.WithHostResolvconf)
	case spec.NetworkNone:
		// containerd's default: a new network namespace, which runc gives a
		// loopback interface.
		opts = append(opts, oci.WithHostHostsFile)
	default:
		opts = append(opts,
			oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: c.netnsPath(id)}),
			oci.WithHostHostsFile, oci.WithHostResolvconf)
	}
	return opts
}

// networkOf is ws's network mode, the default when unset.
func networkOf(ws spec.WorkloadSpec) string {
	if ws.Network == "" {
		return spec.NetworkIsolated
	}
	return ws.Network
}

// capabilitySet applies caps to the default set; names get their CAP_
// prefix.
func capabilitySet(caps spec.Capabilities) []string {
	var set []string
	if !slices.Contains(caps.Drop, spec.AllCapabilities) {
		for _, c := range spec.DefaultCapabilities {
			if !slices.Contains(caps.Drop, c) {
				set = append(set, c)
			}
		}
	}
	for _, c := range caps.Add {
		if !slices.Contains(set, c) {
			set = append(set, c)
		}
	}
	out := make([]string, len(set))
	for i, c := range set {
		out[i] = "CAP_" + c
	}
	slices.Sort(out)
	return out
}

// checkSandbox refuses what the runtime cannot apply.
func checkSandbox(d spec.Desired) error {
	switch networkOf(d.Spec) {
	case spec.NetworkIsolated, spec.NetworkNone, spec.NetworkHost:
		return nil
	}
	return fmt.Errorf("workload %s: network %q: want %s, %s or %s", d.Name, d.Spec.Network, spec.NetworkIsolated, spec.NetworkNone, spec.NetworkHost)
}
