package spec

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// DefaultCapabilities are the capabilities every workload gets unless it
// drops them: Podman's rootful default, which is Docker's and containerd's
// without NET_RAW, MKNOD and AUDIT_WRITE. A workload may add any of them
// back after dropping ALL without the fleet's leave.
var DefaultCapabilities = []string{
	"CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "NET_BIND_SERVICE",
	"SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}

// AllCapabilities names "every capability" in Capabilities.Drop.
const AllCapabilities = "ALL"

// capabilities are the Linux capabilities by name, without CAP_.
var capabilities = func() map[string]bool {
	m := map[string]bool{}
	for _, c := range strings.Fields(`CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID
		SETPCAP LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER
		SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE
		SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN
		SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF CHECKPOINT_RESTORE`) {
		m[c] = true
	}
	return m
}()

// fleetPolicy is what checkSpec knows of fleet.yaml: the host paths
// workloads may mount and what they may ask of the sandbox.
type fleetPolicy struct {
	paths       []string
	caps        map[string]bool // spec.sandbox.allowedCapabilities
	hostNetwork bool
	known       bool // false when fleet.yaml could not be read: skip the checks
}

// policyOf reads the policy of a fleet spec, skipping invalid entries
// (reported by checkFleet).
func policyOf(s *FleetSpec) fleetPolicy {
	p := fleetPolicy{known: true, caps: map[string]bool{}, hostNetwork: s.Sandbox.AllowHostNetwork}
	for _, h := range s.HostPaths {
		if checkAbs(h) == nil && h != "/" {
			p.paths = append(p.paths, h)
		}
	}
	for _, c := range s.Sandbox.AllowedCapabilities {
		if c != AllCapabilities && checkCapName(c) == nil {
			p.caps[c] = true
		}
	}
	return p
}

func (p fleetPolicy) allows(src string) bool {
	for _, hp := range p.paths {
		if src == hp || strings.HasPrefix(src, hp+"/") {
			return true
		}
	}
	return false
}

// checkFleetSandbox checks fleet.yaml's spec.sandbox.
func checkFleetSandbox(rep reporter, p fieldPath, s *SandboxPolicy) {
	seen := map[string]bool{}
	for i, c := range s.AllowedCapabilities {
		cp := p.key("allowedCapabilities").index(i)
		switch err := checkCapName(c); {
		case err != nil:
			rep(cp, err)
		case c == AllCapabilities:
			rep(cp, errors.New("must name each capability, not ALL"))
		case seen[c]:
			rep(cp, fmt.Errorf("duplicate capability %s", c))
		}
		seen[c] = true
	}
}

func checkCapName(c string) error {
	if c == AllCapabilities || capabilities[c] {
		return nil
	}
	if name := strings.TrimPrefix(strings.ToUpper(c), "CAP_"); capabilities[name] {
		return fmt.Errorf("write %s (upper case, without CAP_), not %q", name, c)
	}
	return fmt.Errorf("unknown capability %q", c)
}

// checkSandbox checks a workload's sandbox fields (s is a full spec unless
// partial).
func checkSandbox(rep reporter, p fieldPath, s *WorkloadSpec, pol fleetPolicy, partial bool) {
	if s.User != "" {
		if err := checkUser(s.User); err != nil {
			rep(p.key("user"), err)
		}
	}
	switch s.Network {
	case NetworkIsolated, NetworkNone:
	case NetworkHost:
		if pol.known && !pol.hostNetwork {
			rep(p.key("network"), errors.New("host is not allowed: fleet.yaml's spec.sandbox.allowHostNetwork is not true"))
		}
	case "":
		if !partial {
			rep(p.key("network"), errRequired)
		}
	default:
		rep(p.key("network"), fmt.Errorf("must be %s, %s or %s, not %q", NetworkIsolated, NetworkNone, NetworkHost, s.Network))
	}
	cp := p.key("capabilities")
	seen := map[string]bool{}
	for i, c := range s.Capabilities.Drop {
		switch err := checkCapName(c); {
		case err != nil:
			rep(cp.key("drop").index(i), err)
		case seen[c]:
			rep(cp.key("drop").index(i), fmt.Errorf("duplicate capability %s", c))
		}
		seen[c] = true
	}
	seen = map[string]bool{}
	for i, c := range s.Capabilities.Add {
		ap := cp.key("add").index(i)
		switch err := checkCapName(c); {
		case err != nil:
			rep(ap, err)
		case c == AllCapabilities:
			rep(ap, errors.New("must name each capability, not ALL"))
		case seen[c]:
			rep(ap, fmt.Errorf("duplicate capability %s", c))
		case pol.known && !pol.caps[c] && !slices.Contains(DefaultCapabilities, c):
			allowed := "lists none"
			if len(pol.caps) > 0 {
				allowed = "lists only " + strings.Join(sortedKeys(pol.caps), ", ")
			}
			rep(ap, fmt.Errorf("%s is not allowed: fleet.yaml's spec.sandbox.allowedCapabilities %s", c, allowed))
		}
		seen[c] = true
	}
	if !partial {
		checkReachable(rep, p, s)
	}
}

// checkReachable checks that the node can reach the ports a full spec's
// health check probes: only declared ports are mapped into an isolated
// workload, and one without a network has none.
func checkReachable(rep reporter, p fieldPath, s *WorkloadSpec) {
	if s.Network == NetworkNone && len(s.Ports) > 0 {
		rep(p.key("network"), errors.New("none cannot serve spec.ports: use isolated, or drop the ports"))
	}
	if s.Health == nil || s.Network == NetworkHost {
		return
	}
	probe := func(kind string, port int) {
		switch {
		case s.Network == NetworkNone:
			rep(p.key("network"), fmt.Errorf("none cannot be probed on a port (spec.health.%s): use isolated, or an exec probe", kind))
		case port >= 1 && port <= 65535 && !slices.Contains(s.Ports, port):
			rep(p.key("ports"), fmt.Errorf("must include %d, the port spec.health.%s probes: only declared ports are reachable in an isolated network", port, kind))
		}
	}
	if s.Health.HTTP != nil {
		probe("http", s.Health.HTTP.Port)
	}
	if s.Health.TCP != nil {
		probe("tcp", s.Health.TCP.Port)
	}
}

var userNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,31}$`) })

// checkUser checks a user: uid or name, optionally :gid or :group.
func checkUser(u string) error {
	user, group, hasGroup := strings.Cut(u, ":")
	parts := []string{user}
	if hasGroup {
		parts = append(parts, group)
	}
	for _, part := range parts {
		if n, err := strconv.ParseUint(part, 10, 64); err == nil {
			if n > 1<<31-1 {
				return fmt.Errorf("invalid user %q: id %d out of range", u, n)
			}
			continue
		}
		if !userNameRE().MatchString(part) {
			return fmt.Errorf("invalid user %q: want uid[:gid] or a name from the image's /etc/passwd (name[:group])", u)
		}
	}
	return nil
}
