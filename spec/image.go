package spec

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// The grammar of an image reference, after github.com/distribution/reference.
const (
	domainComponent = `(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])`
	domainName      = domainComponent + `(?:\.` + domainComponent + `)*`
	ipv6Address     = `\[[a-fA-F0-9:]+\]`
	imageHost       = `(?:` + domainName + `|` + ipv6Address + `)(?::[0-9]+)?`
	pathComponent   = `[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*`
	imageName       = `(?:` + imageHost + `/)?` + pathComponent + `(?:/` + pathComponent + `)*`
	imageTag        = `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`
)

var (
	imageNameRE = regexp.MustCompile(`^` + imageName + `(?::` + imageTag + `)?$`)
	digestRE    = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)
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
	if !digestRE.MatchString(digest) {
		if strings.HasPrefix(digest, "sha256:") {
			return fmt.Errorf("invalid digest %q: want sha256: and 64 lowercase hex digits", digest)
		}
		return errNotPinned
	}
	if len(name) > 255 || !imageNameRE.MatchString(name) {
		return fmt.Errorf("invalid image name %q: want [host[:port]/]path[:tag] in lowercase", name)
	}
	return nil
}
