package spec

import (
	"errors"
	"fmt"
	"strings"
)

// The name grammars below are checked by hand, byte by byte, rather than
// with regular expressions: compiling those cost every fleetctl and fleetd
// start, and every node's name and labels go through them. names_test.go
// holds the expressions they were and checks both agree.

// isDNSLabel reports whether s matches ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$.
func isDNSLabel(s string) bool {
	if s == "" || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// isDNSSubdomain reports whether s is DNS labels joined by dots:
// ^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$.
func isDNSSubdomain(s string) bool { return allParts(s, ".", isDNSLabel) }

// allParts reports whether every part of s between seps is ok (s itself
// when it has none).
func allParts(s, sep string, ok func(string) bool) bool {
	for {
		part, rest, more := strings.Cut(s, sep)
		if !ok(part) {
			return false
		}
		if !more {
			return true
		}
		s = rest
	}
}

// isLabelName reports whether s matches
// ^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$.
func isLabelName(s string) bool {
	if s == "" || !isAlnum(s[0]) || !isAlnum(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if c := s[i]; !(isAlnum(c) || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// isEnvName reports whether s matches ^[A-Za-z_][A-Za-z0-9_]*$.
func isEnvName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(isAlnum(c) || c == '_') {
			return false
		}
	}
	return true
}

// IsSHA256Digest reports whether s is a sha256 digest as OCI writes it,
// ^sha256:[a-f0-9]{64}$: the one check of a digest's form for every
// package.
func IsSHA256Digest(s string) bool {
	hex, ok := strings.CutPrefix(s, "sha256:")
	if !ok || len(hex) != 64 {
		return false
	}
	for i := 0; i < len(hex); i++ {
		if c := hex[i]; !(c >= 'a' && c <= 'f' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

var errDNSLabel = errors.New("must be a DNS label: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit")

// checkName checks a workload, group, node or fleet name.
func checkName(name string) error {
	if len(name) > 63 || !isDNSLabel(name) {
		return errDNSLabel
	}
	return nil
}

// checkEnvName checks an environment variable name.
func checkEnvName(name string) error {
	if !isEnvName(name) {
		return fmt.Errorf("invalid environment variable name %q: want letters, digits and '_', not starting with a digit", name)
	}
	return nil
}

// checkLabelKey checks a label key: an optional DNS-subdomain prefix and
// '/', then a name of at most 63 characters (Kubernetes' rules).
func checkLabelKey(k string) error {
	prefix, name, found := strings.Cut(k, "/")
	if !found {
		prefix, name = "", k
	}
	if found && (len(prefix) > 253 || !isDNSSubdomain(prefix)) {
		return fmt.Errorf("invalid label key %q: the prefix before '/' must be a DNS subdomain", k)
	}
	if len(name) > 63 || !isLabelName(name) {
		return fmt.Errorf("invalid label key %q: want at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit", k)
	}
	return nil
}

// checkLabelValue checks a label value: empty, or like a label name.
func checkLabelValue(v string) error {
	if v != "" && (len(v) > 63 || !isLabelName(v)) {
		return fmt.Errorf("invalid label value %q: want at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit", v)
	}
	return nil
}
