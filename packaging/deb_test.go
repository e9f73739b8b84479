package packaging_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/runtime/runtimetest"
)

// What the fleetd package installs; none of it may exist before the test.
const (
	unitPath   = "/lib/systemd/system/fleetd.service"
	configPath = "/etc/gitfleet/fleetd.yaml"
	trustDir   = "/etc/gitfleet/trust"
	binPath    = "/usr/bin/fleetd"
)

var installed = []string{binPath, unitPath, configPath, trustDir, "/etc/gitfleet", "/var/lib/gitfleet"}

// TestDebInstall installs the fleetd package with apt-get as an operator
// would, checks its files and conffiles, verifies the installed unit with
// systemd-analyze and runs the unit's ExecStart command (systemd is not PID
// 1 here): --version, then a pass against a local fleet repo with a private
// containerd. The package is purged afterwards and the test checks that
// nothing of it is left.
func TestDebInstall(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("installing a package needs root (make test runs as root)")
	}
	lock(t, "/run/lock/gitfleet-deb-test.lock") // one path for every run on the machine, whatever TMPDIR says
	// A run killed halfway (a test timeout) leaves its package behind with
	// this marker: that package is a test's, and is purged first.
	const marker = "/run/lock/gitfleet-deb-test.installed"
	if _, err := os.Stat(marker); err == nil {
		t.Logf("purging the fleetd package a killed test run left (%s)", marker)
		apt(t, "", "purge", "fleetd")
		os.Remove(marker)
	}
	if out, _ := exec.Command("dpkg-query", "-W", "-f=${Status}", "fleetd").Output(); len(out) > 0 && !strings.Contains(string(out), "not-installed") {
		t.Fatalf("a fleetd package is on this machine (%s): not touching it", out)
	}
	for _, p := range installed {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%s exists: this machine has a fleetd; not touching it", p)
		}
	}

	deb := findDeb(t, "fleetd", "amd64")
	if err := os.WriteFile(marker, []byte("fleetd was installed by gitfleet's packaging test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		apt(t, "", "purge", "fleetd")
		os.Remove(marker)
		for _, p := range installed {
			if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s is left after purging fleetd", p)
			}
		}
	})
	apt(t, dist, "install", "--no-install-recommends", "./"+filepath.Base(deb))

	files, err := exec.Command("dpkg", "-L", "fleetd").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{binPath, unitPath, configPath, trustDir} {
		if !bytes.Contains(files, []byte(want+"\n")) {
			t.Errorf("dpkg -L fleetd does not list %s:\n%s", want, files)
		}
	}
	conffiles, err := exec.Command("dpkg-query", "-W", "-f=${Conffiles}", "fleetd").Output()
	if err != nil || !bytes.Contains(conffiles, []byte(configPath+" ")) {
		t.Errorf("%s is not a conffile: %q %v", configPath, conffiles, err)
	}
	if fi, err := os.Stat(configPath); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("%s: %v %v, want mode 0640", configPath, fi.Mode(), err)
	}

	if out, err := exec.Command("systemd-analyze", "verify", unitPath).CombinedOutput(); err != nil || bytes.Contains(out, []byte("fleetd")) {
		t.Errorf("systemd-analyze verify %s: %v\n%s", unitPath, err, out)
	}
	argv := execStart(t, unitPath)
	if argv[0] != binPath {
		t.Errorf("ExecStart runs %s, want the packaged %s", argv[0], binPath)
	}

	// The unit's command as installed: it names its version and refuses to
	// start until the config names a repo.
	if out, err := exec.Command(argv[0], append(argv[1:], "--version")...).CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "fleetd "+releaseVersion+" ") {
		t.Errorf("%s --version: %v %q", strings.Join(argv, " "), err, out)
	}
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "--repo is required") {
		t.Errorf("%s with the packaged config: %v %q, want exit 2 asking for --repo", strings.Join(argv, " "), err, out)
	}

	// One pass against a local fleet repo, through the packaged config
	// and trust dir, with a private containerd.
	ctd := runtimetest.StartT(t)
	repo := gittest.NewRepo(t)
	repo.Write("fleet.yaml", "apiVersion: gitfleet.dev/v1alpha1\nkind: Fleet\nmetadata: {name: deb-test}\nspec: {}\n")
	head := repo.Commit("an empty fleet")
	node := "deb-test-" + filepath.Base(t.TempDir())
	pass := exec.Command(argv[0], append(argv[1:], "--repo", gittest.FileURL(repo.BareDir), "--node", node,
		"--state-dir", t.TempDir(), "--containerd-address", ctd.Address, "--once", "--insecure-skip-verify")...)
	if out, err := pass.CombinedOutput(); err != nil {
		t.Fatalf("one pass of the installed fleetd: %v\n%s", err, out)
	}
	report := repo.BareGit("show", "refs/heads/status/"+node+":status/"+node+".yaml")
	if !strings.Contains(report, "appliedRevision: "+head) {
		t.Errorf("the pass's status report does not say it applied %s:\n%s", head, report)
	}

	// The config is a conffile: an operator's edit survives a reinstall.
	edited := "repo: file:///srv/fleet.git # edited on this node\n"
	if err := os.WriteFile(configPath, []byte(edited), 0o640); err != nil {
		t.Fatal(err)
	}
	apt(t, dist, "install", "--reinstall", "--no-install-recommends", "./"+filepath.Base(deb))
	if b, _ := os.ReadFile(configPath); string(b) != edited {
		t.Errorf("a reinstall replaced the edited %s:\n%s", configPath, b)
	}
}

// apt runs apt-get non-interactively in dir, waiting for dpkg's lock.
func apt(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("apt-get", append([]string{"-y", "-q", "-o", "DPkg::Lock::Timeout=300"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("apt-get %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// execStart returns the ExecStart command line of a unit file.
func execStart(t *testing.T, unit string) []string {
	t.Helper()
	b, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "ExecStart="); ok {
			if f := strings.Fields(strings.TrimLeft(v, "-@+!:")); len(f) > 0 {
				return f
			}
		}
	}
	t.Fatalf("%s has no ExecStart", unit)
	return nil
}

// lock holds an exclusive lock on path until the test ends, so that two
// test runs on one machine never install the package at once.
func lock(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
}
