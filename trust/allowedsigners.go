package trust

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// sshSigner is one line of an allowed_signers file.
type sshSigner struct {
	principals string
	key        ssh.PublicKey
	// namespaces holds the namespaces= patterns; nil allows every namespace.
	namespaces []string
	// validAfter and validBefore bound the committer time; zero is unbounded.
	validAfter, validBefore time.Time
	// at names the place the line came from: "file:line".
	at string
}

// parseAllowedSigners reads git's allowed_signers format (ssh-keygen(1),
// ALLOWED SIGNERS): one "principals [options] keytype base64-key [comment]"
// per line, '#' comments and blank lines ignored. Errors name file and
// line; all of them are returned together.
func parseAllowedSigners(file string, data []byte) ([]sshSigner, error) {
	var out []sshSigner
	var errs []error
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		s, err := parseSignerLine(line)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %w", file, n, err))
			continue
		}
		s.at = fmt.Sprintf("%s:%d", file, n)
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", file, err))
	}
	return out, errors.Join(errs...)
}

func parseSignerLine(line string) (sshSigner, error) {
	var s sshSigner
	principals, rest, err := firstField(line)
	if err != nil {
		return s, err
	}
	if principals == "" || rest == "" {
		return s, errors.New("want: principals [options] keytype base64-key [comment]")
	}
	s.principals = principals
	// ParseAuthorizedKey reads "[options] keytype base64 [comment]" with
	// the same option quoting rules as ssh-keygen.
	key, _, opts, _, err := ssh.ParseAuthorizedKey([]byte(rest))
	if err != nil {
		return s, fmt.Errorf("bad key: %w", err)
	}
	if _, ok := key.(*ssh.Certificate); ok {
		return s, errors.New("certificates are not supported as signer keys; list the plain public key")
	}
	s.key = key
	for _, o := range opts {
		if err := s.setOption(o); err != nil {
			return s, err
		}
	}
	if !s.validAfter.IsZero() && !s.validBefore.IsZero() && !s.validAfter.Before(s.validBefore) {
		return s, errors.New("valid-after is not before valid-before")
	}
	return s, nil
}

// firstField splits off the principals field, which may be quoted.
func firstField(line string) (field, rest string, err error) {
	if line[0] == '"' {
		end := strings.IndexByte(line[1:], '"')
		if end < 0 {
			return "", "", errors.New("principals: missing closing quote")
		}
		return line[1 : end+1], strings.TrimSpace(line[end+2:]), nil
	}
	i := strings.IndexAny(line, " \t")
	if i < 0 {
		return line, "", nil
	}
	return line[:i], strings.TrimSpace(line[i:]), nil
}

func (s *sshSigner) setOption(o string) error {
	name, value, hasValue := strings.Cut(o, "=")
	value = unquote(value)
	switch strings.ToLower(name) {
	case "cert-authority":
		return errors.New("option cert-authority is not supported: certificate signatures are not verified, list the signer's own key")
	case "namespaces":
		if !hasValue || value == "" {
			return errors.New("option namespaces: empty")
		}
		s.namespaces = strings.Split(value, ",")
	case "valid-after", "valid-before":
		if !hasValue {
			return fmt.Errorf("option %s: missing value", name)
		}
		t, err := parseSignerTime(value)
		if err != nil {
			return fmt.Errorf("option %s: %w", name, err)
		}
		if strings.EqualFold(name, "valid-after") {
			s.validAfter = t
		} else {
			s.validBefore = t
		}
	default:
		return fmt.Errorf("unsupported option %q", o)
	}
	return nil
}

func unquote(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return v[1 : len(v)-1]
	}
	return v
}

// parseSignerTime reads ssh-keygen's absolute times: YYYYMMDD,
// YYYYMMDDHHMM or YYYYMMDDHHMMSS, in local time, or UTC with a trailing Z.
func parseSignerTime(v string) (time.Time, error) {
	loc := time.Local
	if strings.HasSuffix(v, "Z") || strings.HasSuffix(v, "z") {
		v, loc = v[:len(v)-1], time.UTC
	}
	var layout string
	switch len(v) {
	case 8:
		layout = "20060102"
	case 12:
		layout = "200601021504"
	case 14:
		layout = "20060102150405"
	default:
		return time.Time{}, fmt.Errorf("time %q: want YYYYMMDD[HHMM[SS]][Z]", v)
	}
	t, err := time.ParseInLocation(layout, v, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q: want YYYYMMDD[HHMM[SS]][Z]", v)
	}
	return t, nil
}

// allows reports why the line does not allow a git signature made at t
// ("" when it does). It mirrors ssh-keygen -Y verify: a namespace outside
// namespaces=, a time before valid-after or after valid-before. what names
// the time t is, for messages ("committer time").
func (s *sshSigner) allows(namespace string, t time.Time, what string) string {
	if s.namespaces != nil && !matchPatternList(namespace, s.namespaces) {
		return fmt.Sprintf("%s: namespaces=%q excludes %q", s.at, strings.Join(s.namespaces, ","), namespace)
	}
	if !s.validAfter.IsZero() && t.Before(s.validAfter) {
		return fmt.Sprintf("%s: not yet valid at %s %s (valid-after %s)", s.at, what, t.UTC().Format(time.RFC3339), s.validAfter.UTC().Format(time.RFC3339))
	}
	if !s.validBefore.IsZero() && t.After(s.validBefore) {
		return fmt.Sprintf("%s: expired at %s %s (valid-before %s)", s.at, what, t.UTC().Format(time.RFC3339), s.validBefore.UTC().Format(time.RFC3339))
	}
	return ""
}

// matchPatternList is OpenSSH's match_pattern_list: comma-separated
// patterns with * and ?, a leading ! negates; any negated match denies.
func matchPatternList(s string, patterns []string) bool {
	ok := false
	for _, p := range patterns {
		p = strings.TrimSpace(p)
		neg := strings.HasPrefix(p, "!")
		if neg {
			p = p[1:]
		}
		if wildcard(p, s) {
			if neg {
				return false
			}
			ok = true
		}
	}
	return ok
}

func wildcard(p, s string) bool {
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 1 && p[1] == '*' {
				p = p[1:]
			}
			for i := len(s); i >= 0; i-- {
				if wildcard(p[1:], s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
		default:
			if s == "" || s[0] != p[0] {
				return false
			}
		}
		p, s = p[1:], s[1:]
	}
	return s == ""
}
