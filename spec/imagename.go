package spec

import "strings"

// The grammar of an image reference, after github.com/distribution/reference,
// checked by hand rather than by its regular expression, whose compiling
// cost a fleetctl or fleetd process about 0.2 ms (imagename_test.go holds
// the expression and checks both agree):
//
//	name      = [host "/"] path *("/" path) [":" tag]
//	host      = (domain | "[" ipv6 "]") [":" port]
//	domain    = label *("." label)    label: letters, digits, '-' inside
//	path      = alnum *(sep alnum)     alnum: [a-z0-9]+; sep: "." | "_" | "__" | "-"+
//	tag       = [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}

// isImageName reports whether s is [host/]path[/path…][:tag].
func isImageName(s string) bool {
	if c, sl := strings.LastIndexByte(s, ':'), strings.LastIndexByte(s, '/'); c > sl {
		if !isImageTag(s[c+1:]) {
			return false
		}
		s = s[:c]
	}
	if isRepoPath(s) {
		return true
	}
	host, path, ok := strings.Cut(s, "/")
	return ok && isImageHost(host) && isRepoPath(path)
}

// isRepoPath reports whether s is path components joined by '/'.
func isRepoPath(s string) bool { return allParts(s, "/", isPathComponent) }

// isPathComponent reports whether s matches
// [a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*.
func isPathComponent(s string) bool {
	if s == "" || !isLowerOrDigit(s[0]) || !isLowerOrDigit(s[len(s)-1]) {
		return false
	}
	for i := 0; i < len(s); {
		if isLowerOrDigit(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && (s[j] == '.' || s[j] == '_' || s[j] == '-') {
			j++
		}
		if j == i || !isPathSeparator(s[i:j]) {
			return false
		}
		i = j
	}
	return true
}

func isLowerOrDigit(c byte) bool { return isLower(c) || isDigit(c) }

// isPathSeparator reports whether s is ".", "_", "__" or one or more '-'.
func isPathSeparator(s string) bool {
	return s == "." || s == "_" || s == "__" || strings.Trim(s, "-") == ""
}

// isImageHost reports whether s is a domain or a bracketed IPv6 address,
// with an optional port.
func isImageHost(s string) bool {
	name, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return false
		}
		name, port = s[:end+1], s[end+1:]
		ip := name[1:end]
		if ip == "" || strings.Trim(ip, "0123456789abcdefABCDEF:") != "" {
			return false
		}
	} else {
		if c := strings.IndexByte(s, ':'); c >= 0 {
			name, port = s[:c], s[c:]
		}
		if !isDomain(name) {
			return false
		}
	}
	if port == "" {
		return true
	}
	digits, ok := strings.CutPrefix(port, ":")
	return ok && digits != "" && strings.Trim(digits, "0123456789") == ""
}

// isDomain reports whether s is labels of letters, digits and inner '-'
// joined by dots.
func isDomain(s string) bool { return allParts(s, ".", isDomainLabel) }

// isDomainLabel reports whether s is letters, digits and inner '-'.
func isDomainLabel(s string) bool {
	if s == "" || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '-' {
			return false
		}
	}
	return true
}

// isImageTag reports whether s matches [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}.
func isImageTag(s string) bool {
	if s == "" || len(s) > 128 || s[0] == '.' || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '_' && c != '.' && c != '-' {
			return false
		}
	}
	return true
}
