package plan

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/gitfleet/gitfleet/spec"
)

// KeyParsers parse the key files fleet.yaml names, with the parsers the
// agent uses (package trust for commit keys, package image for image keys),
// so that validate accepts exactly what a node accepts. A nil parser
// checks only that the file exists.
type KeyParsers struct {
	// AllowedSigners parses spec.trust.commits.allowedSigners (git's
	// allowed_signers format).
	AllowedSigners func(name string, data []byte) error
	// OpenPGP parses one of spec.trust.commits.openpgpKeys.
	OpenPGP func(name string, data []byte) error
	// ImageKey parses one of spec.trust.images.keys (a cosign PEM public
	// key).
	ImageKey func(name string, data []byte) error
}

// CheckOptions configure CheckWith.
type CheckOptions struct {
	Keys KeyParsers
	// Images, when set, verifies every image reference of the repo (see
	// CheckImages); nil leaves registries alone.
	Images ImageVerifier
}

// keyFile is one key file fleet.yaml names.
type keyFile struct {
	path   string
	field  string   // spec.trust.images.keys[0]
	keys   []string // the YAML keys leading to the field, for its line
	parser func(name string, data []byte) error
}

// keyFiles lists the key files f names.
func keyFiles(f *spec.Fleet, p KeyParsers) []keyFile {
	t := f.Spec.Trust
	var out []keyFile
	if t.Commits.AllowedSigners != "" {
		out = append(out, keyFile{t.Commits.AllowedSigners, "spec.trust.commits.allowedSigners",
			[]string{"spec", "trust", "commits", "allowedSigners"}, p.AllowedSigners})
	}
	for i, k := range t.Commits.OpenPGPKeys {
		out = append(out, keyFile{k, fmt.Sprintf("spec.trust.commits.openpgpKeys[%d]", i),
			[]string{"spec", "trust", "commits", "openpgpKeys"}, p.OpenPGP})
	}
	for i, k := range t.Images.Keys {
		out = append(out, keyFile{k, fmt.Sprintf("spec.trust.images.keys[%d]", i),
			[]string{"spec", "trust", "images", "keys"}, p.ImageKey})
	}
	return out
}

// checkKeyFiles reports each key file fleet.yaml names that is missing,
// not a regular file, or does not parse: an error on fleet.yaml's field,
// naming the key file. Nodes would refuse such a revision.
func checkKeyFiles(fsys fs.FS, f *spec.Fleet, p KeyParsers) []Finding {
	var out []Finding
	fleetYAML, _ := fs.ReadFile(fsys, "fleet.yaml")
	for _, k := range keyFiles(f, p) {
		name := path.Clean(strings.TrimPrefix(k.path, "./"))
		msg := ""
		data, err := readKeyFile(fsys, name)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			msg = fmt.Sprintf("key file %s does not exist in the repo", k.path)
		case err != nil:
			msg = fmt.Sprintf("key file %s: %v", k.path, err)
		case k.parser != nil:
			if perr := k.parser(name, data); perr != nil {
				msg = fmt.Sprintf("key file %s: %v", k.path, perr)
			}
		}
		if msg != "" {
			out = append(out, Finding{Severity: SeverityError, File: "fleet.yaml", Line: lineOf(fleetYAML, k.keys...), Field: k.field, Message: msg})
		}
	}
	return out
}

// readKeyFile reads name, which must be a regular file inside the repo.
func readKeyFile(fsys fs.FS, name string) ([]byte, error) {
	if !fs.ValidPath(name) {
		return nil, fmt.Errorf("not a path inside the repo")
	}
	fi, err := fs.Stat(fsys, name)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	return fs.ReadFile(fsys, name)
}
