package spec

import (
	"errors"
	"fmt"
	"strings"
)

var errNotPinned = errors.New("must be pinned by digest (@sha256:…)")

// checkImage checks that ref names an image pinned by a sha256 digest:
// name@sha256:<64 lowercase hex>, optionally with a tag before the digest.
func checkImage(ref string) error {
	i := strings.LastIndexByte(ref, '@')
	if i < 0 {
		return errNotPinned
	}
	name, digest := ref[:i], ref[i+1:]
	if !IsSHA256Digest(digest) {
		if strings.HasPrefix(digest, "sha256:") {
			return fmt.Errorf("invalid digest %q: want sha256: and 64 lowercase hex digits", digest)
		}
		return errNotPinned
	}
	if len(name) > 255 || !isImageName(name) {
		return fmt.Errorf("invalid image name %q: want [host[:port]/]path[:tag] in lowercase", name)
	}
	return nil
}

// ImageRef is an image reference split into its parts, Docker Hub's
// shorthands expanded (nginx is docker.io/library/nginx).
type ImageRef struct {
	Host       string // registry host[:port]; "docker.io" for Docker Hub
	Repository string // path at Host: "models/detector", "library/nginx"
	Tag        string // "" when none
	Digest     string // "sha256:<64 hex>", "" when none
}

// ParseImageRef reads [host[:port]/]path[:tag][@sha256:<hex>] the way
// container tools do: the first path component is the host when it holds
// a dot or a colon or is localhost.
func ParseImageRef(ref string) (ImageRef, error) {
	var r ImageRef
	name := ref
	if i := strings.LastIndexByte(ref, '@'); i >= 0 {
		name, r.Digest = ref[:i], ref[i+1:]
		if !IsSHA256Digest(r.Digest) {
			return ImageRef{}, fmt.Errorf("image %q: invalid digest %q: want sha256: and 64 lowercase hex digits", ref, r.Digest)
		}
	}
	if len(name) > 255 || !isImageName(name) {
		return ImageRef{}, fmt.Errorf("image %q: invalid name: want [host[:port]/]path[:tag] in lowercase", ref)
	}
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		name, r.Tag = name[:i], name[i+1:]
	}
	host, rest, ok := strings.Cut(name, "/")
	if !ok || (!strings.ContainsAny(host, ".:") && host != "localhost") {
		host, rest = dockerHub, name
	}
	r.Host, r.Repository = canonicalHost(host), rest
	if r.Host == dockerHub && !strings.Contains(r.Repository, "/") {
		r.Repository = "library/" + r.Repository
	}
	return r, nil
}

// Name is host/repository.
func (r ImageRef) Name() string { return r.Host + "/" + r.Repository }

// String is the reference in full: host/repository[:tag][@digest].
func (r ImageRef) String() string {
	s := r.Name()
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}
