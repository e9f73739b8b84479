package spec

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Secret gives a workload one value that the fleet repo holds only
// encrypted, with age, to the recipients of the nodes that may read it
// (nodes/<node>.yaml spec.ageRecipient; `fleetctl secret encrypt` writes
// such files). The node decrypts it and hands it to the container as an
// environment variable (Env) or as a read-only file on tmpfs (Path):
// exactly one of the two.
type Secret struct {
	// Name identifies the secret in plans and errors.
	Name string `json:"name"`
	// File is the encrypted value's path in the repo, e.g. secrets/db.age.
	File string `json:"file"`
	// Env is the environment variable that holds the value.
	Env string `json:"env,omitempty"`
	// Path is where the container reads the value as a file (mode 0400,
	// owned by the container's user), e.g. /run/secrets/db.
	Path string `json:"path,omitempty"`
	// Data is File's content, still encrypted, read by Parse. It is never
	// written out (not part of the YAML or JSON form).
	Data []byte `json:"-"`
}

// Headers of age files, binary and armored.
const (
	ageHeader      = "age-encryption.org/v1\n"
	ageArmorHeader = "-----BEGIN AGE ENCRYPTED FILE-----"
)

// Digest returns "sha256:<hex>" of the encrypted value: it changes when
// the value is re-encrypted, never reveals it.
func (s Secret) Digest() string {
	sum := sha256.Sum256(s.Data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// hiddenPaths are container paths a secret file must not be placed under.
var hiddenPaths = []string{"/proc", "/sys", "/dev"}

// checkSecrets checks a spec's secrets: names, files, and one unclashing
// destination each.
func checkSecrets(rep reporter, p fieldPath, s *WorkloadSpec) {
	names, envs, paths := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for i, sec := range s.Secrets {
		sp := p.index(i)
		switch {
		case sec.Name == "":
			rep(sp.key("name"), errRequired)
		case checkName(sec.Name) != nil:
			rep(sp.key("name"), checkName(sec.Name))
		case names[sec.Name]:
			rep(sp.key("name"), fmt.Errorf("duplicate secret %q", sec.Name))
		}
		names[sec.Name] = true
		if sec.File == "" {
			rep(sp.key("file"), errors.New("is required: the age-encrypted file in this repo, such as secrets/db-password.age"))
		} else {
			checkRepoPath(rep, sp.key("file"), sec.File)
		}
		switch {
		case sec.Env == "" && sec.Path == "":
			rep(sp, errors.New("want env (an environment variable) or path (a file in the container), got neither"))
		case sec.Env != "" && sec.Path != "":
			rep(sp, errors.New("want env or path, not both: list the secret twice for both"))
		case sec.Env != "":
			switch err := checkEnvName(sec.Env); {
			case err != nil:
				rep(sp.key("env"), err)
			case envs[sec.Env]:
				rep(sp.key("env"), fmt.Errorf("duplicate variable %s: another secret sets it", sec.Env))
			case hasKey(s.Env, sec.Env):
				rep(sp.key("env"), fmt.Errorf("variable %s is also set in spec.env", sec.Env))
			}
			envs[sec.Env] = true
		default:
			switch err := checkAbs(sec.Path); {
			case err != nil:
				rep(sp.key("path"), err)
			case sec.Path == "/" || slices.ContainsFunc(hiddenPaths, func(h string) bool { return sec.Path == h || strings.HasPrefix(sec.Path, h+"/") }):
				rep(sp.key("path"), fmt.Errorf("must not be / nor under %s", strings.Join(hiddenPaths, ", ")))
			case paths[sec.Path]:
				rep(sp.key("path"), fmt.Errorf("duplicate path %s", sec.Path))
			}
			paths[sec.Path] = true
		}
	}
}

func hasKey(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}

// readSecrets reads the encrypted file of each secret into its Data,
// reporting a file that is missing or not age-encrypted.
func (p *parser) readSecrets(rep reporter, at fieldPath, secrets []Secret) error {
	for i := range secrets {
		f := secrets[i].File
		if f == "" || !fs.ValidPath(f) || f == "." {
			continue // checkSecrets reported it
		}
		fp := at.index(i).key("file")
		switch fi, err := fs.Stat(p.fsys, f); {
		case errors.Is(err, fs.ErrNotExist):
			rep(fp, fmt.Errorf("file %s is missing: write it with fleetctl secret encrypt", f))
			continue
		case err != nil:
			return fmt.Errorf("read %s: %w", f, err)
		case fi.IsDir():
			rep(fp, fmt.Errorf("%s is a folder, want an age-encrypted file", f))
			continue
		}
		data, err := p.read(f)
		if err != nil {
			return fmt.Errorf("read %s: %w", f, err)
		}
		if data == nil {
			continue // too large, reported
		}
		if !bytes.HasPrefix(data, []byte(ageHeader)) && !bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte(ageArmorHeader)) {
			rep(fp, fmt.Errorf("%s is not an age-encrypted file: secrets are committed only encrypted (fleetctl secret encrypt)", f))
			continue
		}
		secrets[i].Data = data
	}
	return nil
}

// ageRecipientRE matches an age X25519 recipient: "age1" and 58 bech32
// characters.
var ageRecipientRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^age1[02-9ac-hj-np-z]{58}$`) })

func checkAgeRecipient(rep reporter, p fieldPath, r string) {
	if r != "" && !ageRecipientRE().MatchString(r) {
		rep(p, fmt.Errorf("invalid age recipient %q: want age1… as `fleetd --print-age-recipient` prints it", r))
	}
}

// canonicalSecret is a secret as HashSpec sees it: its encrypted value
// by digest.
type canonicalSecret struct {
	Name   string `json:"name"`
	Env    string `json:"env,omitempty"`
	Path   string `json:"path,omitempty"`
	Digest string `json:"digest"`
}

func canonicalSecrets(in []Secret) []canonicalSecret {
	if len(in) == 0 {
		return nil
	}
	out := make([]canonicalSecret, len(in))
	for i, s := range in {
		out[i] = canonicalSecret{Name: s.Name, Env: s.Env, Path: s.Path, Digest: s.Digest()}
	}
	slices.SortFunc(out, func(a, b canonicalSecret) int { return strings.Compare(a.Name, b.Name) })
	return out
}
