package spec

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
)

var (
	dnsLabelRE   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`) })
	envNameRE    = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) })
	labelNameRE  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`) })
	dnsSubdomain = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	})
)

var errDNSLabel = errors.New("must be a DNS label: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit")

// checkName checks a workload, group, node or fleet name.
func checkName(name string) error {
	if len(name) > 63 || !dnsLabelRE().MatchString(name) {
		return errDNSLabel
	}
	return nil
}

// checkEnvName checks an environment variable name.
func checkEnvName(name string) error {
	if !envNameRE().MatchString(name) {
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
	if found && (len(prefix) > 253 || !dnsSubdomain().MatchString(prefix)) {
		return fmt.Errorf("invalid label key %q: the prefix before '/' must be a DNS subdomain", k)
	}
	if len(name) > 63 || !labelNameRE().MatchString(name) {
		return fmt.Errorf("invalid label key %q: want at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit", k)
	}
	return nil
}

// checkLabelValue checks a label value: empty, or like a label name.
func checkLabelValue(v string) error {
	if v != "" && (len(v) > 63 || !labelNameRE().MatchString(v)) {
		return fmt.Errorf("invalid label value %q: want at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit", v)
	}
	return nil
}
