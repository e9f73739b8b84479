package packaging_test

import (
	"bufio"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// release lists what a release holds for each architecture: the names the
// CI example and docs/install.md download.
var release = []struct {
	arch    string // in the binary's name
	debArch string // Debian's name
	machine elf.Machine
}{
	{"amd64", "amd64", elf.EM_X86_64},
	{"arm64", "arm64", elf.EM_AARCH64},
	{"armv7", "armhf", elf.EM_ARM},
}

// TestReleaseBinaries: every binary is a static, stripped ELF for its
// architecture, and SHA256SUMS covers every file with the right sums.
func TestReleaseBinaries(t *testing.T) {
	for _, r := range release {
		for _, cmd := range []string{"fleetd", "fleetctl"} {
			name := cmd + "-linux-" + r.arch
			f, err := elf.Open(filepath.Join(dist, name))
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			if f.Machine != r.machine {
				t.Errorf("%s: machine %v, want %v", name, f.Machine, r.machine)
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
					t.Errorf("%s: has %v: not a static binary", name, p.Type)
				}
			}
			if f.Section(".symtab") != nil {
				t.Errorf("%s: has a symbol table: not stripped", name)
			}
			f.Close()
		}
	}

	sums := readSums(t)
	ents, err := os.ReadDir(dist)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() == "SHA256SUMS" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dist, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if got := sums[e.Name()]; got != hex.EncodeToString(sum[:]) {
			t.Errorf("SHA256SUMS has %q for %s, want its sha256", got, e.Name())
		}
		delete(sums, e.Name())
	}
	for name := range sums {
		t.Errorf("SHA256SUMS lists %s, which is not in the release", name)
	}
	// sha256sum itself agrees (the CI example checks with it).
	check := exec.Command("sha256sum", "--check", "--quiet", "SHA256SUMS")
	check.Dir = dist
	if out, err := check.CombinedOutput(); err != nil {
		t.Errorf("sha256sum --check: %v\n%s", err, out)
	}
}

// TestReleaseVersion: the binaries say the version they were released as.
func TestReleaseVersion(t *testing.T) {
	for _, cmd := range []string{"fleetd", "fleetctl"} {
		out, err := exec.Command(filepath.Join(dist, cmd+"-linux-amd64"), "--version").CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), cmd+" "+releaseVersion+" (") {
			t.Errorf("%s --version: %v, printed %q, want \"%s %s (…)\"", cmd, err, out, cmd, releaseVersion)
		}
	}
}

// TestReleasePackages: one .deb per program and architecture, with the
// package's name, architecture and the release's version.
func TestReleasePackages(t *testing.T) {
	for _, r := range release {
		for _, cmd := range []string{"fleetd", "fleetctl"} {
			deb := findDeb(t, cmd, r.debArch)
			out, err := exec.Command("dpkg-deb", "--field", deb, "Package", "Architecture", "Version").Output()
			if err != nil {
				t.Errorf("dpkg-deb --field %s: %v", deb, err)
				continue
			}
			want := "Package: " + cmd + "\nArchitecture: " + r.debArch + "\nVersion: " + strings.TrimPrefix(releaseVersion, "v") + "\n"
			if string(out) != want {
				t.Errorf("%s fields:\n%s\nwant:\n%s", filepath.Base(deb), out, want)
			}
			contents, err := exec.Command("dpkg-deb", "--contents", deb).Output()
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(contents), "./usr/bin/"+cmd+"\n") {
				t.Errorf("%s does not hold /usr/bin/%s:\n%s", filepath.Base(deb), cmd, contents)
			}
		}
	}
}

// findDeb returns the one package of cmd for debArch in the release.
func findDeb(t *testing.T, cmd, debArch string) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dist, cmd+"_*_"+debArch+".deb"))
	if err != nil || len(m) != 1 {
		t.Fatalf("%s_*_%s.deb in the release: %v %v", cmd, debArch, m, err)
	}
	return m[0]
}

// readSums reads SHA256SUMS: file name -> hex sum.
func readSums(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(dist, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sums := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q", sc.Text())
		}
		sums[name] = sum
	}
	return sums
}
