package spec

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"
)

// reporter records one problem at a field path.
type reporter func(p fieldPath, err error)

// checker reports the problems of one document, placing each on its line.
// A problem at or below a field whose value was dropped for having the wrong
// type is not reported: the type error already was.
type checker struct {
	doc  *document
	errs *errorList
}

func (c checker) report(p fieldPath, err error) {
	for _, b := range c.doc.bad {
		if hasPrefix(p, b) {
			return
		}
	}
	c.errs.add(c.doc.file, locate(c.doc.root, p), p.String(), err)
}

func hasPrefix(p, prefix fieldPath) bool {
	return len(p) >= len(prefix) && slices.Equal(p[:len(prefix)], prefix)
}

var errRequired = errors.New("is required")

// checkHeader checks apiVersion, kind and metadata. base is the name the
// file's name requires, or "" for fleet.yaml.
func checkHeader(rep reporter, tm TypeMeta, meta ObjectMeta, kind, place, base string) {
	switch tm.APIVersion {
	case APIVersion:
	case "":
		rep(fieldPath{}.key("apiVersion"), fmt.Errorf("is required: want %s", APIVersion))
	default:
		rep(fieldPath{}.key("apiVersion"), fmt.Errorf("must be %s, not %q", APIVersion, tm.APIVersion))
	}
	switch tm.Kind {
	case kind:
	case "":
		rep(fieldPath{}.key("kind"), fmt.Errorf("is required: want %s", kind))
	default:
		rep(fieldPath{}.key("kind"), fmt.Errorf("must be %s in %s, not %q", kind, place, tm.Kind))
	}
	name := fieldPath{}.key("metadata").key("name")
	switch {
	case meta.Name == "":
		rep(name, errRequired)
	case checkName(meta.Name) != nil:
		rep(name, checkName(meta.Name))
	case base != "" && meta.Name != base:
		rep(name, fmt.Errorf("must match the file name: want %q, got %q", base, meta.Name))
	}
	checkLabels(rep, fieldPath{}.key("metadata").key("labels"), meta.Labels)
}

func checkLabels(rep reporter, p fieldPath, labels map[string]string) {
	for _, k := range sortedKeys(labels) {
		if err := checkLabelKey(k); err != nil {
			rep(p.key(k), err)
		} else if err := checkLabelValue(labels[k]); err != nil {
			rep(p.key(k), err)
		}
	}
}

// checkFleet checks fleet.yaml's spec, defaults applied.
func checkFleet(rep reporter, s *FleetSpec) {
	p := fieldPath{}.key("spec")
	if s.PollInterval.Duration < time.Second {
		rep(p.key("pollInterval"), fmt.Errorf("must be at least 1s, got %s", s.PollInterval))
	}
	hosts := map[string]bool{}
	for i, r := range s.Registries {
		rp := p.key("registries").index(i)
		switch err := checkHost(r.Host); {
		case err != nil:
			rep(rp.key("host"), err)
		case hosts[canonicalHost(r.Host)]:
			rep(rp.key("host"), fmt.Errorf("duplicate registry %q", r.Host))
		}
		hosts[canonicalHost(r.Host)] = true
	}
	seen := map[string]bool{}
	for i, h := range s.HostPaths {
		hp := p.key("hostPaths").index(i)
		switch err := checkAbs(h); {
		case err != nil:
			rep(hp, err)
		case h == "/":
			rep(hp, errors.New("must not be /: list the directories workloads may mount"))
		case seen[h]:
			rep(hp, fmt.Errorf("duplicate host path %q", h))
		}
		seen[h] = true
	}
	tp := p.key("trust")
	switch s.Trust.Commits.Mode {
	case CommitModeHead, CommitModeAll:
	default:
		rep(tp.key("commits").key("mode"), fmt.Errorf("must be %s or %s, not %q", CommitModeHead, CommitModeAll, s.Trust.Commits.Mode))
	}
	if f := s.Trust.Commits.AllowedSigners; f != "" {
		checkRepoPath(rep, tp.key("commits").key("allowedSigners"), f)
	}
	for i, f := range s.Trust.Commits.OpenPGPKeys {
		checkRepoPath(rep, tp.key("commits").key("openpgpKeys").index(i), f)
	}
	for i, f := range s.Trust.Images.Keys {
		kp := tp.key("images").key("keys").index(i)
		checkRepoPath(rep, kp, f)
		if fs.ValidPath(f) && !strings.HasPrefix(f, "trust/") {
			rep(kp, fmt.Errorf("%q is not under trust/: image keys must live in trust/, where changing them needs a key the node already trusts", f))
		}
	}
	if s.Status.Heartbeat.Duration < time.Second {
		rep(p.key("status").key("heartbeat"), fmt.Errorf("must be at least 1s, got %s", s.Status.Heartbeat))
	}
	if pl := s.Poll; pl != nil {
		if err := CheckHeadURL(pl.URL); err != nil {
			rep(p.key("poll").key("url"), err)
		}
		if d := pl.MaxStale.Duration; d != 0 && d < s.PollInterval.Duration {
			rep(p.key("poll").key("maxStale"), fmt.Errorf("must be at least pollInterval (%s), got %s", s.PollInterval, pl.MaxStale))
		}
	}
	checkFleetSandbox(rep, p.key("sandbox"), &s.Sandbox)
}

// CheckHeadURL checks a head URL (fleet.yaml spec.poll.url, fleetd
// --poll-url): http or https, a host, no credentials (every node and every
// reader of the fleet repo sees it).
func CheckHeadURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return errRequired
	case err != nil:
		return fmt.Errorf("invalid URL %q", raw)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("must be an http or https URL, got %q", raw)
	case u.Host == "":
		return fmt.Errorf("must name a host, got %q", raw)
	case u.User != nil:
		return errors.New("must not carry credentials: every node reads it")
	case u.Fragment != "":
		return fmt.Errorf("must not have a fragment, got %q", raw)
	}
	return nil
}

// checkHost checks a registry host: host[:port], no scheme, no path.
func checkHost(h string) error {
	switch {
	case h == "":
		return errRequired
	case strings.Contains(h, "://"):
		return fmt.Errorf("invalid host %q: write host[:port] without a scheme (use plainHTTP: true for http)", h)
	case strings.ContainsAny(h, "/@ \t"):
		return fmt.Errorf("invalid host %q: want host[:port]", h)
	}
	return nil
}

func checkRepoPath(rep reporter, p fieldPath, f string) {
	if !fs.ValidPath(f) || f == "." {
		rep(p, fmt.Errorf("invalid path %q: want a clean path relative to the repo root, such as trust/cosign.pub", f))
	}
}

// checkAbs checks a host or container path: absolute and clean.
func checkAbs(p string) error {
	switch {
	case p == "":
		return errRequired
	case !path.IsAbs(p):
		return fmt.Errorf("must be an absolute path, got %q", p)
	case path.Clean(p) != p:
		return fmt.Errorf("must be a clean path: want %q, got %q", path.Clean(p), p)
	}
	return nil
}

// checkSpec checks a workload spec at p, defaults applied. With partial
// set it checks an override: only the fields that are set.
func checkSpec(rep reporter, p fieldPath, s *WorkloadSpec, hosts fleetPolicy, partial bool) {
	switch {
	case s.Image != "":
		if err := checkImage(s.Image); err != nil {
			rep(p.key("image"), err)
		}
	case !partial:
		rep(p.key("image"), errRequired)
	}
	for _, k := range sortedKeys(s.Env) {
		if err := checkEnvName(k); err != nil {
			rep(p.key("env").key(k), err)
		}
	}
	ports := map[int]bool{}
	for i, port := range s.Ports {
		switch {
		case port < 1 || port > 65535:
			rep(p.key("ports").index(i), fmt.Errorf("port %d out of range 1-65535", port))
		case ports[port]:
			rep(p.key("ports").index(i), fmt.Errorf("duplicate port %d", port))
		}
		ports[port] = true
	}
	targets := map[string]bool{}
	for i, m := range s.Mounts {
		mp := p.key("mounts").index(i)
		switch err := checkAbs(m.Source); {
		case err != nil:
			rep(mp.key("source"), err)
		case !hosts.known:
		case len(hosts.paths) == 0:
			rep(mp.key("source"), fmt.Errorf("%s is not an allowed host path: fleet.yaml lists no spec.hostPaths", m.Source))
		case !hosts.allows(m.Source):
			rep(mp.key("source"), fmt.Errorf("%s is not an allowed host path: want one of fleet.yaml's spec.hostPaths (%s) or a directory below one", m.Source, strings.Join(hosts.paths, ", ")))
		}
		switch err := checkAbs(m.Target); {
		case err != nil:
			rep(mp.key("target"), err)
		case m.Target == "/":
			rep(mp.key("target"), errors.New("must not be /"))
		case targets[m.Target]:
			rep(mp.key("target"), fmt.Errorf("duplicate mount target %q", m.Target))
		}
		targets[m.Target] = true
	}
	checkResources(rep, p.key("resources"), &s.Resources)
	if s.Health != nil {
		checkHealth(rep, p.key("health"), s.Health)
	}
	switch s.Restart {
	case RestartAlways, RestartOnFailure, RestartNever:
	case "":
		if !partial {
			rep(p.key("restart"), errRequired)
		}
	default:
		rep(p.key("restart"), fmt.Errorf("must be %s, %s or %s, not %q", RestartAlways, RestartOnFailure, RestartNever, s.Restart))
	}
	checkStop(rep, p, s)
	if s.UpdateLock != nil {
		checkUpdateLock(rep, p.key("updateLock"), s.UpdateLock, hosts)
	}
	checkSecrets(rep, p.key("secrets"), s)
	if s.MinSignatures < 0 || s.MinSignatures > maxMinSignatures {
		rep(p.key("minSignatures"), fmt.Errorf("must be between 1 and %d, not %d", maxMinSignatures, s.MinSignatures))
	}
	checkSandbox(rep, p, s, hosts, partial)
}

// maxMinSignatures bounds WorkloadSpec.MinSignatures.
const maxMinSignatures = 16

func checkResources(rep reporter, p fieldPath, r *Resources) {
	if r.Memory != "" {
		if n, err := ParseMemory(r.Memory); err != nil {
			rep(p.key("memory"), err)
		} else if n == 0 {
			rep(p.key("memory"), errors.New("must be more than 0; leave it out for no limit"))
		}
	}
	if r.CPU != "" {
		if n, err := ParseCPU(r.CPU); err != nil {
			rep(p.key("cpu"), err)
		} else if n == 0 {
			rep(p.key("cpu"), errors.New("must be more than 0; leave it out for no limit"))
		}
	}
	if r.GPUs < 0 {
		rep(p.key("gpus"), fmt.Errorf("must not be negative, got %d", r.GPUs))
	}
}

func checkHealth(rep reporter, p fieldPath, h *Health) {
	var probes []string
	if h.HTTP != nil {
		probes = append(probes, "http")
		checkPort(rep, p.key("http").key("port"), h.HTTP.Port)
		if h.HTTP.Path != "" && !strings.HasPrefix(h.HTTP.Path, "/") {
			rep(p.key("http").key("path"), fmt.Errorf("must start with /, got %q", h.HTTP.Path))
		}
	}
	if h.TCP != nil {
		probes = append(probes, "tcp")
		checkPort(rep, p.key("tcp").key("port"), h.TCP.Port)
	}
	if h.Exec != nil {
		probes = append(probes, "exec")
		if len(h.Exec.Command) == 0 || h.Exec.Command[0] == "" {
			rep(p.key("exec").key("command"), errors.New("is required: want the command and its arguments, such as [/bin/check, --quick]"))
		}
	}
	switch len(probes) {
	case 0:
		rep(p, errors.New("want exactly one of http, tcp or exec, got none"))
	case 1:
	default:
		rep(p, fmt.Errorf("want exactly one of http, tcp or exec, got %s", strings.Join(probes, " and ")))
	}
	if h.StartPeriod.Duration < 0 {
		rep(p.key("startPeriod"), fmt.Errorf("must not be negative, got %s", h.StartPeriod))
	}
	if h.Period.Duration < 0 {
		rep(p.key("period"), fmt.Errorf("must be positive, got %s", h.Period))
	}
	if h.Timeout.Duration < 0 {
		rep(p.key("timeout"), fmt.Errorf("must be positive, got %s", h.Timeout))
	}
	if h.FailureThreshold < 0 {
		rep(p.key("failureThreshold"), fmt.Errorf("must be positive, got %d", h.FailureThreshold))
	}
}

func checkPort(rep reporter, p fieldPath, port int) {
	if port < 1 || port > 65535 {
		rep(p, fmt.Errorf("port %d out of range 1-65535", port))
	}
}

// overrideSpec views an override as a partial workload spec for checkSpec.
func overrideSpec(o Override) WorkloadSpec {
	s := WorkloadSpec{Image: o.Image, Args: o.Args, Env: o.Env, Ports: o.Ports, Mounts: o.Mounts, Health: o.Health, Restart: o.Restart, UpdateLock: o.UpdateLock, Secrets: o.Secrets,
		User: o.User, Network: o.Network}
	if o.Resources != nil {
		s.Resources = *o.Resources
	}
	if o.Capabilities != nil {
		s.Capabilities = *o.Capabilities
	}
	return s
}
