package runtime

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gitfleet/gitfleet/fault"
	"github.com/gitfleet/gitfleet/internal/porttest"
	"github.com/gitfleet/gitfleet/secret"
	"github.com/gitfleet/gitfleet/spec"
)

// tmpfs mounts a small tmpfs on a new folder until the test ends.
func tmpfs(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "secrets")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0700,size=1m"); err != nil {
		t.Fatalf("mount tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

// secretsClient connects to e's containerd with id as its age identity
// and secretDir for the files.
func (e *env) secretsClient(t *testing.T, id *secret.Identity, secretDir string) *Containerd {
	t.Helper()
	c, err := New(t.Context(), Config{Address: e.d.Address, LogDir: e.logDir, StopTimeout: 5 * time.Second,
		Secrets: id, SecretDir: secretDir}, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestSecretsReachContainer: a workload reads one secret from its
// environment and one from a read-only file; the file lives on tmpfs with
// mode 0400 while the container exists and is gone once it is removed.
func TestSecretsReachContainer(t *testing.T) {
	e := setup(t)
	e.pull(t)
	node, _, err := secret.LoadOrCreateIdentity(filepath.Join(t.TempDir(), "age.key"))
	if err != nil {
		t.Fatal(err)
	}
	dir := tmpfs(t)
	c := e.secretsClient(t, node, dir)
	token, cert := "tok-"+filepath.Base(t.TempDir()), "-----BEGIN CERT-----\nxyz\n"
	encTok, err := secret.Encrypt([]byte(token), []string{node.Recipient()}, false)
	if err != nil {
		t.Fatal(err)
	}
	encCert, err := secret.Encrypt([]byte(cert), []string{node.Recipient()}, true)
	if err != nil {
		t.Fatal(err)
	}
	port := porttest.Port(t)
	d := desired("api", port, nil)
	d.Spec.Secrets = []spec.Secret{
		{Name: "token", File: "secrets/token.age", Env: "API_TOKEN", Data: encTok},
		{Name: "cert", File: "secrets/cert.age", Path: "/run/secrets/cert.pem", Data: encCert},
	}
	d.Hash = spec.HashSpec(d.Spec)
	if err := c.Run(t.Context(), d, "rev1"); err != nil {
		t.Fatal(err)
	}
	if _, body := get(t, port, "/env"); !strings.Contains(body, "API_TOKEN="+token+"\n") {
		t.Errorf("the container's environment has no API_TOKEN=<value>:\n%s", body)
	}
	if code, body := get(t, port, "/read?path=/run/secrets/cert.pem"); code != 200 || body != cert {
		t.Errorf("read /run/secrets/cert.pem in the container: %d %q, want the value", code, body)
	}
	if code, _ := get(t, port, "/write?path=/run/secrets/cert.pem"); code == 200 {
		t.Error("the container could write its secret file")
	}
	ins, err := c.List(t.Context())
	if err != nil || len(ins) != 1 {
		t.Fatalf("List = %+v, %v; want one instance", ins, err)
	}
	id := ins[0].ID
	host := filepath.Join(dir, id, "cert")
	fi, err := os.Stat(host)
	if err != nil || fi.Mode().Perm() != 0o400 {
		t.Errorf("secret file on the host: %v %v, want mode 0400", fi, err)
	}

	if err := c.Remove(t.Context(), d.Name); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the secret files outlive their container: %v", err)
	}
}

// TestSecretsRefused: a value not encrypted to this node, or a secret dir
// that is not tmpfs, fails the start with the secret's name, refused (not
// retried until the spec changes); nothing runs.
func TestSecretsRefused(t *testing.T) {
	e := setup(t)
	e.pull(t)
	keys := t.TempDir()
	node, _, err := secret.LoadOrCreateIdentity(filepath.Join(keys, "node.key"))
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := secret.LoadOrCreateIdentity(filepath.Join(keys, "other.key"))
	if err != nil {
		t.Fatal(err)
	}
	enc, err := secret.Encrypt([]byte("v"), []string{other.Recipient()}, false)
	if err != nil {
		t.Fatal(err)
	}
	d := desired("api", porttest.Port(t), nil)
	d.Spec.Secrets = []spec.Secret{{Name: "token", File: "secrets/token.age", Path: "/run/secrets/token", Data: enc}}
	d.Hash = spec.HashSpec(d.Spec)
	err = e.secretsClient(t, node, tmpfs(t)).Run(t.Context(), d, "rev1")
	if !errors.Is(err, secret.ErrNotRecipient) || !strings.Contains(err.Error(), "secret token (secrets/token.age)") || fault.ClassOf(err) != fault.Refused {
		t.Errorf("Run with a value for another node: %v, want not encrypted to this node, naming the secret", err)
	}

	// On a disk folder the values would be written to disk: refused.
	disk := t.TempDir()
	var st unix.Statfs_t
	if unix.Statfs(disk, &st) == nil && st.Type == tmpfsMagic {
		disk = "/var/tmp"
	}
	enc, err = secret.Encrypt([]byte("v"), []string{node.Recipient()}, false)
	if err != nil {
		t.Fatal(err)
	}
	d.Spec.Secrets[0].Data = enc
	d.Hash = spec.HashSpec(d.Spec)
	diskDir := filepath.Join(disk, "gitfleet-secrets-"+filepath.Base(keys))
	t.Cleanup(func() { os.RemoveAll(diskDir) })
	err = e.secretsClient(t, node, diskDir).Run(t.Context(), d, "rev1")
	if !errors.Is(err, ErrNotTmpfs) || fault.ClassOf(err) != fault.Refused {
		t.Errorf("Run with the secret dir on disk: %v, want %v", err, ErrNotTmpfs)
	}
	if got := e.list(t); len(got) != 0 {
		t.Errorf("containers after refused starts: %+v", got)
	}
}
