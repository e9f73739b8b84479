package spec

import "strings"

// PlainNode reads the node of a node file (file is its base name in
// nodes/, such as n1.yaml) without the YAML decoder when the file is
// written in a small plain subset of YAML that Parse accepts without an
// error and reads as the returned node: apiVersion, kind, metadata (a
// name and labels, flow or block style) and a spec that holds only a
// statusKey (the enrolled key of a fleet with rollout gates, as `fleetd
// --print-status-key` prints it), and nothing else, each key once,
// printable ASCII, indented by two spaces, plain scalars that only read as
// strings, full-line comments. Anything else (quotes, anchors, a spec,
// another indentation, a comment after a value, a value on the next line,
// a name or label Parse refuses) and ok is false: the caller decodes the
// file. Most node files of a large fleet are this subset, and decoding
// costs a hundred times more. Parse and ParseNodes read node files with it
// first; a differential fuzz test holds it to the decoder.
//
// It does not see the other files of nodes/: a name that two files have
// (a.yaml and a.yml) is the caller's to report, as Parse does.
func PlainNode(file string, b []byte) (n Node, ok bool) {
	name, found := strings.CutSuffix(file, ".yaml")
	if !found {
		if name, found = strings.CutSuffix(file, ".yml"); !found {
			return n, false
		}
	}
	if len(b) > 4096 || !safeName(name) {
		return n, false
	}
	for _, c := range b {
		if (c < ' ' || c > '~') && c != '\n' {
			return n, false
		}
	}
	const (
		top = iota
		metadata
		labels // block labels, the key "labels:" read
		spec   // "spec:" read, its statusKey not yet
	)
	state := top
	var seenAPI, seenKind, seenMeta, seenName, seenLabels, seenSpec bool
	blockLabels := 0 // label lines of a block "labels:"
	for line := range strings.SplitSeq(string(b), "\n") {
		s := strings.TrimRight(line, " ")
		rest := strings.TrimLeft(s, " ")
		if rest == "" || rest[0] == '#' {
			continue
		}
		indent := len(s) - len(rest)
		if state == labels && indent != 4 && blockLabels == 0 || state == spec && indent != 2 {
			return n, false // "labels:" or "spec:" with no entries is null
		}
		key, val, ok := cutPair(rest)
		if !ok {
			return n, false
		}
		switch {
		case indent == 0:
			state = top
			switch {
			case key == "apiVersion" && !seenAPI && val == APIVersion:
				seenAPI = true
				n.APIVersion = val
			case key == "kind" && !seenKind && val == KindNode:
				seenKind = true
				n.Kind = val
			case key == "metadata" && !seenMeta && val == "":
				seenMeta = true
				state = metadata
			case key == "spec" && !seenSpec && val == "":
				seenSpec = true
				state = spec
			default:
				return n, false
			}
		case indent == 2 && state == spec:
			if key != "statusKey" || !plainStatusKey(val) {
				return n, false
			}
			n.Spec.StatusKey = val
			state = top // nothing else under spec
		case indent == 2 && (state == metadata || state == labels):
			state = metadata
			switch {
			case key == "name" && !seenName && val == name:
				seenName = true
				n.Metadata.Name = val
			case key == "labels" && !seenLabels:
				seenLabels = true
				n.Metadata.Labels = map[string]string{}
				if val == "" {
					state, blockLabels = labels, 0
				} else if !flowLabels(val, n.Metadata.Labels) {
					return n, false
				}
			default:
				return n, false
			}
		case indent == 4 && state == labels:
			if !addLabel(n.Metadata.Labels, key, val) {
				return n, false
			}
			blockLabels++
		default:
			return n, false
		}
	}
	if state == labels && blockLabels == 0 || state == spec {
		return n, false
	}
	return n, seenAPI && seenKind && seenMeta && seenName
}

// plainStatusKey: a status key line that YAML reads as this string (a
// plain scalar of letters, digits, single spaces and the bytes of base64
// and of a usual comment, starting with a letter) and that spec accepts.
func plainStatusKey(v string) bool {
	if v == "" || !isLetter(v[0]) || strings.Contains(v, "  ") {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; !isAlnum(c) && !strings.ContainsRune(" +/=@._-", rune(c)) {
			return false
		}
	}
	return CheckStatusKey(v) == nil
}

// cutPair splits "key: value" or "key:" (value "").
func cutPair(s string) (key, val string, ok bool) {
	i := strings.IndexByte(s, ':')
	if i <= 0 {
		return "", "", false
	}
	key, val = s[:i], s[i+1:]
	if val != "" && val[0] != ' ' {
		return "", "", false
	}
	return key, strings.TrimLeft(val, " "), true
}

// flowLabels reads "{k: v, k: v}" into labels.
func flowLabels(val string, labels map[string]string) bool {
	inner, ok := strings.CutPrefix(val, "{")
	if !ok {
		return false
	}
	if inner, ok = strings.CutSuffix(inner, "}"); !ok {
		return false
	}
	for item := range strings.SplitSeq(inner, ",") {
		k, v, ok := cutPair(strings.Trim(item, " "))
		if !ok || !addLabel(labels, k, v) {
			return false
		}
	}
	return true
}

// labelName: [A-Za-z]([-A-Za-z0-9_.]*[A-Za-z0-9])?, at most 63 bytes:
// spec's label name, starting with a letter so that YAML reads it as a
// string.
func labelName(s string) bool {
	if s == "" || len(s) > 63 || !isLetter(s[0]) || !isAlnum(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if c := s[i]; !isAlnum(c) && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

// dnsLabel: [a-z0-9]([-a-z0-9]*[a-z0-9])?, its first byte a letter when
// letter is set.
func dnsLabel(s string, letter bool) bool {
	if s == "" || len(s) > 63 || !isLower(s[0]) && (letter || !isDigit(s[0])) || !isLower(s[len(s)-1]) && !isDigit(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if c := s[i]; !isLower(c) && !isDigit(c) && c != '-' {
			return false
		}
	}
	return true
}

// labelKey: spec's label key (an optional DNS-subdomain prefix and '/',
// then a label name), starting with a letter.
func labelKey(k string) bool {
	prefix, name, found := strings.Cut(k, "/")
	if !found {
		return labelName(k)
	}
	if len(prefix) > 253 || !labelName(name) {
		return false
	}
	for i, part := range strings.Split(prefix, ".") {
		if !dnsLabel(part, i == 0) {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return isLower(c) || 'A' <= c && c <= 'Z' }
func isLower(c byte) bool  { return 'a' <= c && c <= 'z' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }
func isAlnum(c byte) bool  { return isLetter(c) || isDigit(c) }

// addLabel adds k: v, both plain scalars that read as strings spec
// accepts; false when they are not, or k is there already.
func addLabel(labels map[string]string, k, v string) bool {
	if !labelKey(k) || !labelName(v) || yamlWord(k) || yamlWord(v) {
		return false
	}
	if _, dup := labels[k]; dup {
		return false
	}
	labels[k] = v
	return true
}

// safeName: a node name spec accepts that YAML reads as a string.
func safeName(name string) bool {
	return dnsLabel(name, true) && !yamlWord(name)
}

// yamlWord: a plain scalar YAML 1.1 or 1.2 may read as a boolean or null
// (any case, to be safe).
func yamlWord(s string) bool {
	switch strings.ToLower(s) {
	case "y", "n", "yes", "no", "on", "off", "true", "false", "null":
		return true
	}
	return false
}
