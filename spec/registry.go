package spec

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Registry configures access to one registry host.
type Registry struct {
	Host      string `json:"host"`
	PlainHTTP bool   `json:"plainHTTP,omitempty"`
	// Mirrors are tried in order before Host itself.
	Mirrors []Mirror `json:"mirrors,omitempty"`
}

// Mirror is a mirror of a registry, written host[:port][/path] in
// fleet.yaml. The registry's repository R is read from Host under
// Prefix/R (R alone when Prefix is empty), the layout of a pull-through
// cache or of a project that copies the registry (Harbor, Artifactory,
// distribution). It speaks plain HTTP when spec.registries has an entry
// for Host with plainHTTP: true.
type Mirror struct {
	Host   string // host[:port]
	Prefix string // repository path prefix, "" for none
}

// ParseMirror reads host[:port][/path].
func ParseMirror(s string) (Mirror, error) {
	switch {
	case s == "":
		return Mirror{}, errors.New("must not be empty")
	case strings.Contains(s, "://"):
		return Mirror{}, fmt.Errorf("invalid mirror %q: write host[:port][/path] without a scheme", s)
	case strings.ContainsAny(s, "@ \t"):
		return Mirror{}, fmt.Errorf("invalid mirror %q: want host[:port][/path]", s)
	}
	host, prefix, slash := strings.Cut(s, "/")
	if err := checkHost(host); err != nil {
		return Mirror{}, fmt.Errorf("invalid mirror %q: want host[:port][/path]", s)
	}
	if slash && !isRepoPath(prefix) {
		return Mirror{}, fmt.Errorf("invalid mirror %q: the path must be a repository path prefix such as cache/hub (lowercase, no empty parts)", s)
	}
	if prefix == "v2" || strings.HasPrefix(prefix, "v2/") {
		return Mirror{}, fmt.Errorf("invalid mirror %q: the /v2 API path is implied; the path is a repository prefix", s)
	}
	return Mirror{Host: host, Prefix: prefix}, nil
}

// String writes the mirror as fleet.yaml does.
func (m Mirror) String() string {
	if m.Prefix == "" {
		return m.Host
	}
	return m.Host + "/" + m.Prefix
}

// MarshalJSON writes the mirror as a string.
func (m Mirror) MarshalJSON() ([]byte, error) { return json.Marshal(m.String()) }

// UnmarshalJSON reads host[:port][/path].
func (m *Mirror) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("want a mirror such as \"mirror.local:5000/cache\"")
	}
	v, err := ParseMirror(s)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// ImageSource is the one place an image is read from: a registry, or a
// mirror of it, at one scheme, host and repository path. The image adapter
// picks it once (Sources gives the candidates), verifies the image there,
// and hands exactly this value to the runtime to pull from.
type ImageSource struct {
	// Image is the image as the fleet names it; its Name is what the
	// runtime stores the image under.
	Image      ImageRef
	Host       string // host[:port] dialed
	PlainHTTP  bool   // http instead of https
	Repository string // path at Host, a mirror's prefix included
	// Digest is the image's digest, "" until a tag is resolved.
	Digest string
	// Layout, when set, is the folder of an OCI image layout holding the
	// image (a USB stick's gitfleet/images) instead of a registry: Host,
	// PlainHTTP and Repository are empty then.
	Layout string
}

// Scheme is "http" or "https".
func (s ImageSource) Scheme() string {
	if s.PlainHTTP {
		return "http"
	}
	return "https"
}

// Ref is the image at this source: host/repository@digest, or :tag while
// the digest is not known.
func (s ImageSource) Ref() string {
	switch {
	case s.Digest != "":
		return s.Host + "/" + s.Repository + "@" + s.Digest
	case s.Image.Tag != "":
		return s.Host + "/" + s.Repository + ":" + s.Image.Tag
	}
	return s.Host + "/" + s.Repository
}

// String is Ref with the scheme, for logs and errors.
func (s ImageSource) String() string {
	if s.Layout != "" {
		return "oci-layout:" + s.Layout + "@" + s.Digest
	}
	return s.Scheme() + "://" + s.Ref()
}

// IsMirror reports whether the source is not the image's own registry.
func (s ImageSource) IsMirror() bool {
	return s.Host != originHost(s.Image.Host) || s.Repository != s.Image.Repository
}

// Sources lists where the image ref is read, in the order to try: through
// each mirror registries give its registry, then from the registry itself,
// each over plain HTTP where registries say so for the host dialed. This
// is the only place mirrors get their meaning: verification, plans, pins
// and pulls all go through it.
func Sources(registries []Registry, ref ImageRef) []ImageSource {
	conf := findRegistry(registries, ref.Host)
	out := make([]ImageSource, 0, len(conf.Mirrors)+1)
	for _, m := range conf.Mirrors {
		repo := ref.Repository
		if m.Prefix != "" {
			repo = m.Prefix + "/" + repo
		}
		out = append(out, ImageSource{
			Image: ref, Host: m.Host, PlainHTTP: findRegistry(registries, m.Host).PlainHTTP,
			Repository: repo, Digest: ref.Digest,
		})
	}
	return append(out, ImageSource{
		Image: ref, Host: originHost(ref.Host), PlainHTTP: conf.PlainHTTP,
		Repository: ref.Repository, Digest: ref.Digest,
	})
}

// Origin is the last of Sources: the image's own registry, where
// signatures are written.
func Origin(registries []Registry, ref ImageRef) ImageSource {
	s := Sources(registries, ref)
	return s[len(s)-1]
}

// findRegistry returns the settings for host ("docker.io" also names
// Docker Hub's index.docker.io).
func findRegistry(registries []Registry, host string) Registry {
	host = canonicalHost(host)
	for _, r := range registries {
		if canonicalHost(r.Host) == host {
			return r
		}
	}
	return Registry{}
}

// dockerHub is Docker Hub as image references name it; originHost is the
// host its API answers on.
const dockerHub = "docker.io"

func canonicalHost(h string) string {
	if h == "index.docker.io" {
		return dockerHub
	}
	return h
}

func originHost(h string) string {
	if canonicalHost(h) == dockerHub {
		return "registry-1.docker.io"
	}
	return h
}
