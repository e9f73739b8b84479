package runtime

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/leases"
	"github.com/containerd/containerd/remotes"
	"github.com/containerd/containerd/remotes/docker"
	"github.com/opencontainers/go-digest"

	"github.com/gitfleet/gitfleet/spec"
)

// pullLeaseExpiry bounds how long a lease of an abandoned pull keeps its
// partial content from containerd's garbage collector.
const pullLeaseExpiry = 24 * time.Hour

// PullLeaseID is the ID of the lease that holds the content of a pull of
// the image with digest dgst. A pull reuses it, so a pull interrupted by an
// agent restart resumes from what containerd already stored.
func PullLeaseID(dgst digest.Digest) string {
	return "gitfleet-pull-" + dgst.Encoded()
}

// Pull fetches the image ref, which must be pinned by digest, and unpacks it
// into the snapshotter. It makes no request when the image is already there
// and unpacked.
func (c *Containerd) Pull(ctx context.Context, ref string, registries []spec.Registry) error {
	name, dgst, err := pinned(ref)
	if err != nil {
		return fmt.Errorf("pull: %w", err)
	}
	ctx = c.ns(ctx)
	if img, err := c.client.GetImage(ctx, name); err == nil {
		if ok, err := img.IsUnpacked(ctx, c.cfg.Snapshotter); err == nil && ok {
			return nil
		}
	}
	start := time.Now()
	ls := c.client.LeasesService()
	lease := leases.Lease{ID: PullLeaseID(dgst)}
	if _, err := ls.Create(ctx, leases.WithID(lease.ID), leases.WithExpiration(pullLeaseExpiry)); err != nil && !errdefs.IsAlreadyExists(err) {
		return fmt.Errorf("pull %s: lease: %w", ref, err)
	}
	resumed, err := ingests(ctx, ls, lease)
	if err != nil {
		return fmt.Errorf("pull %s: lease: %w", ref, err)
	}
	err = c.pull(leases.WithLease(ctx, lease.ID), name, registries)
	if err != nil && len(resumed) > 0 && ctx.Err() == nil {
		// Resuming can fail where a fresh download works (a registry or
		// proxy that refuses Range requests): drop the partial downloads
		// and start over once.
		c.log.WarnContext(ctx, "resumed pull failed, starting over", logKeyRef, name, logKeyError, err)
		cs := c.client.ContentStore()
		for _, ref := range resumed {
			_ = cs.Abort(ctx, ref)
		}
		err = c.pull(leases.WithLease(ctx, lease.ID), name, registries)
	}
	if err != nil {
		// The lease stays: the next pull resumes from the stored content.
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	// The image record and its unpacked snapshots now hold the content.
	if err := ls.Delete(ctx, lease); ignoreNotFound(err) != nil {
		return fmt.Errorf("pull %s: delete lease: %w", ref, err)
	}
	c.log.InfoContext(ctx, "pulled image", logKeyRef, name, logKeyDuration, time.Since(start).Round(time.Millisecond))
	return nil
}

// pull pulls and unpacks name with the lease on ctx, after checking that
// it fits on the disk.
func (c *Containerd) pull(ctx context.Context, name string, registries []spec.Registry) error {
	res := resolver(registries)
	if err := c.checkSpace(ctx, name, res); err != nil {
		return err
	}
	_, err := c.client.Pull(ctx, name,
		containerd.WithResolver(res),
		containerd.WithPullUnpack,
		containerd.WithPullSnapshotter(c.cfg.Snapshotter))
	return err
}

// ingests returns the refs of the partial downloads lease holds.
func ingests(ctx context.Context, ls leases.Manager, lease leases.Lease) ([]string, error) {
	rs, err := ls.ListResources(ctx, lease)
	if err != nil {
		return nil, err
	}
	var refs []string
	for _, r := range rs {
		if r.Type == "ingests" {
			refs = append(refs, r.ID)
		}
	}
	return refs, nil
}

// resolver resolves and fetches through each host's mirrors first, then the
// host itself, speaking plain HTTP where registries say so. No credentials:
// fleet images are public to the node or served by a local mirror.
func resolver(registries []spec.Registry) remotes.Resolver {
	client := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	return docker.NewResolver(docker.ResolverOptions{Hosts: registryHosts(registries, client)})
}

// registryHosts configures the hosts an image host is reached through.
func registryHosts(registries []spec.Registry, client *http.Client) docker.RegistryHosts {
	byHost := make(map[string]spec.Registry, len(registries))
	for _, r := range registries {
		byHost[r.Host] = r
	}
	auth := docker.NewDockerAuthorizer(docker.WithAuthClient(client))
	caps := docker.HostCapabilityPull | docker.HostCapabilityResolve
	return func(host string) ([]docker.RegistryHost, error) {
		reg := byHost[host]
		var hosts []docker.RegistryHost
		for _, m := range reg.Mirrors {
			h, err := mirrorHost(m, byHost)
			if err != nil {
				return nil, err
			}
			h.Client, h.Authorizer, h.Capabilities = client, auth, caps
			hosts = append(hosts, h)
		}
		origin := host
		if origin == "docker.io" {
			origin = "registry-1.docker.io"
		}
		hosts = append(hosts, docker.RegistryHost{
			Client: client, Authorizer: auth, Capabilities: caps,
			Host: origin, Scheme: scheme(reg.PlainHTTP), Path: "/v2",
		})
		return hosts, nil
	}
}

// mirrorHost reads a mirror written as host[:port], or as a URL
// (http://host:port/path) whose path defaults to /v2. A bare host speaks
// plain HTTP when registries say so for that host.
func mirrorHost(m string, byHost map[string]spec.Registry) (docker.RegistryHost, error) {
	if !strings.Contains(m, "://") {
		return docker.RegistryHost{Host: m, Scheme: scheme(byHost[m].PlainHTTP), Path: "/v2"}, nil
	}
	u, err := url.Parse(m)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return docker.RegistryHost{}, fmt.Errorf("mirror %q: want host[:port] or an http(s) URL", m)
	}
	path := strings.TrimSuffix(u.Path, "/")
	if path == "" {
		path = "/v2"
	}
	return docker.RegistryHost{Host: u.Host, Scheme: u.Scheme, Path: path}, nil
}

func scheme(plainHTTP bool) string {
	if plainHTTP {
		return "http"
	}
	return "https"
}
