package plan

import (
	"bytes"
	"regexp"
	"strings"

	"github.com/gitfleet/gitfleet/spec"
)

// simpleNode reads the node of a node file (file is its name in nodes/)
// without spec.Parse when the file is written in a small plain subset of
// YAML that spec.Parse accepts without an error and reads as the returned
// node: apiVersion, kind and metadata (a name and labels, flow or block
// style) and nothing else, each key once, printable ASCII, indented by two
// spaces, plain scalars that only read as strings, full-line comments.
// Anything else (quotes, anchors, a spec, another indentation, a comment
// after a value, a value on the next line, a name or label spec.Parse
// refuses) and ok is false: the caller parses the file. Most node files
// of a large fleet are this subset, and a full parse costs a hundred times
// more. A differential fuzz test holds it to spec.Parse.
//
// The caller still leaves to spec.Parse a file whose name another file of
// nodes/ has too (a.yaml and a.yml), which spec.Parse reports.
func simpleNode(file string, b []byte) (n spec.Node, ok bool) {
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
	)
	state := top
	var seenAPI, seenKind, seenMeta, seenName, seenLabels bool
	blockLabels := 0 // label lines of a block "labels:"
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		s := strings.TrimRight(string(line), " ")
		rest := strings.TrimLeft(s, " ")
		if rest == "" || rest[0] == '#' {
			continue
		}
		indent := len(s) - len(rest)
		if state == labels && indent != 4 && blockLabels == 0 {
			return n, false // "labels:" with no entries is null
		}
		key, val, ok := cutPair(rest)
		if !ok {
			return n, false
		}
		switch {
		case indent == 0:
			state = top
			switch {
			case key == "apiVersion" && !seenAPI && val == spec.APIVersion:
				seenAPI = true
				n.APIVersion = val
			case key == "kind" && !seenKind && val == spec.KindNode:
				seenKind = true
				n.Kind = val
			case key == "metadata" && !seenMeta && val == "":
				seenMeta = true
				state = metadata
			default:
				return n, false
			}
		case indent == 2 && state != top:
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
	if state == labels && blockLabels == 0 {
		return n, false
	}
	return n, seenAPI && seenKind && seenMeta && seenName
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

var (
	// simpleLabelKey is spec's label key (an optional DNS-subdomain
	// prefix and '/', a name), starting with a letter so that YAML reads
	// it as a string.
	simpleLabelKey = regexp.MustCompile(`^(?:[a-z](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?$`)
	// simpleLabelValue is spec's label value, not empty, starting with a
	// letter.
	simpleLabelValue = regexp.MustCompile(`^[A-Za-z](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?$`)
	simpleNodeName   = regexp.MustCompile(`^[a-z](?:[-a-z0-9]*[a-z0-9])?$`)
)

// addLabel adds k: v, both plain scalars that read as strings spec
// accepts; false when they are not, or k is there already.
func addLabel(labels map[string]string, k, v string) bool {
	prefix, name, found := strings.Cut(k, "/")
	if !found {
		name = k
	}
	if len(prefix) > 253 || len(name) > 63 || len(v) > 63 || !simpleLabelKey.MatchString(k) || !simpleLabelValue.MatchString(v) || yamlWord(k) || yamlWord(v) {
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
	return len(name) <= 63 && simpleNodeName.MatchString(name) && !yamlWord(name)
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
