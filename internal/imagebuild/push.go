package imagebuild

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Push writes img to ref and returns the digest reference
// "host/repo@sha256:…". ref may carry a tag (a bare repository means
// "latest") or a digest, which must then be img's. Loopback hosts
// (localhost, 127.0.0.0/8, ::1) are spoken to over plain HTTP. opts are
// passed to remote.Write after remote.WithContext(ctx).
func Push(ctx context.Context, img v1.Image, ref string, opts ...remote.Option) (digestRef string, err error) {
	var nameOpts []name.Option
	if isLoopback(ref) {
		nameOpts = append(nameOpts, name.Insecure)
	}
	r, err := name.ParseReference(ref, nameOpts...)
	if err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	if dr, ok := r.(name.Digest); ok && dr.DigestStr() != d.String() {
		return "", fmt.Errorf("push %s: image digest is %s", ref, d)
	}
	if err := remote.Write(r, img, append([]remote.Option{remote.WithContext(ctx)}, opts...)...); err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	return r.Context().Digest(d.String()).String(), nil
}

// isLoopback reports whether ref's registry host is a loopback name or
// address.
func isLoopback(ref string) bool {
	host, _, _ := strings.Cut(ref, "/")
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
