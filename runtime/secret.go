package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/gitfleet/gitfleet/fault"
	"github.com/gitfleet/gitfleet/spec"
)

// DefaultSecretDir is where decrypted secret files are kept: on /run,
// which systemd mounts as tmpfs.
const DefaultSecretDir = "/run/gitfleet/secrets"

// Decrypter opens a secret's encrypted value: the node's age identity
// (secret.Identity) does.
type Decrypter interface {
	Decrypt(ciphertext []byte) ([]byte, error)
}

// ErrNotTmpfs is returned for a workload with secret files when
// Config.SecretDir is not on tmpfs: the values would reach the disk.
var ErrNotTmpfs = errors.New("not on tmpfs")

// Filesystem magic numbers of memory-backed filesystems (statfs(2)).
const (
	tmpfsMagic = 0x01021994
	ramfsMagic = 0x858458f6
)

// openSecrets are a workload's secrets, decrypted, for one container.
type openSecrets struct {
	env   []string
	files []secretFile
}

type secretFile struct {
	host, target string
	data         []byte
}

// openSecrets decrypts d's secrets for container id. Its errors name the
// secret and its file, never a value; a value this node cannot open is
// fault.Refused (only a new revision can fix it).
func (c *Containerd) openSecrets(d spec.Desired, id string) (*openSecrets, error) {
	if len(d.Spec.Secrets) == 0 {
		return nil, nil
	}
	if c.cfg.Secrets == nil {
		return nil, fault.Refuse(d.Name, errors.New("secrets: this agent has no age identity to decrypt them"))
	}
	o := &openSecrets{}
	for _, s := range d.Spec.Secrets {
		b, err := c.cfg.Secrets.Decrypt(s.Data)
		if err != nil {
			o.wipe()
			return nil, fault.Refuse(d.Name, fmt.Errorf("secret %s (%s): %w", s.Name, s.File, err))
		}
		if s.Env != "" {
			o.env = append(o.env, s.Env+"="+string(b))
			clear(b)
			continue
		}
		o.files = append(o.files, secretFile{host: filepath.Join(c.cfg.SecretDir, id, s.Name), target: s.Path, data: b})
	}
	return o, nil
}

// specOpts puts the environment variables and the read-only bind mounts
// of the files into the container's spec.
func (o *openSecrets) specOpts() []oci.SpecOpts {
	if o == nil {
		return nil
	}
	var opts []oci.SpecOpts
	if len(o.env) > 0 {
		opts = append(opts, oci.WithEnv(o.env))
	}
	if len(o.files) > 0 {
		mounts := make([]specs.Mount, len(o.files))
		for i, f := range o.files {
			mounts[i] = specs.Mount{Type: "bind", Source: f.host, Destination: f.target,
				Options: []string{"rbind", "rprivate", "ro", "nosuid", "nodev", "noexec"}}
		}
		opts = append(opts, oci.WithMounts(mounts))
	}
	return opts
}

// write puts the secret files of ctr on tmpfs, <SecretDir>/<id>/<name>,
// mode 0400 and owned by the user the container runs as, then forgets the
// values. The folder is 0700: no other user of the host reaches them.
func (c *Containerd) writeSecrets(ctx context.Context, ctr containerd.Container, o *openSecrets) error {
	if o == nil {
		return nil
	}
	defer o.wipe()
	if len(o.files) == 0 {
		return nil
	}
	if err := os.MkdirAll(c.cfg.SecretDir, 0o700); err != nil {
		return fmt.Errorf("secrets: %w", err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(c.cfg.SecretDir, &st); err != nil {
		return fmt.Errorf("secrets: %w", err)
	}
	if st.Type != tmpfsMagic && uint32(st.Type) != ramfsMagic {
		return fault.Refuse(ctr.ID(), fmt.Errorf("secrets: %s is %w: decrypted values would reach the disk (mount a tmpfs there or use a folder on /run)", c.cfg.SecretDir, ErrNotTmpfs))
	}
	s, err := ctr.Spec(ctx)
	if err != nil {
		return fmt.Errorf("secrets: %w", err)
	}
	uid, gid := 0, 0
	if s.Process != nil {
		uid, gid = int(s.Process.User.UID), int(s.Process.User.GID)
	}
	dir := filepath.Join(c.cfg.SecretDir, ctr.ID())
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("secrets: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("secrets: %w", err)
	}
	for _, f := range o.files {
		if err := writeFile0400(f.host, f.data, uid, gid); err != nil {
			return errors.Join(fmt.Errorf("secrets: %w", err), os.RemoveAll(dir))
		}
	}
	return nil
}

func writeFile0400(path string, data []byte, uid, gid int) error {
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o400)
	if err != nil {
		return err
	}
	_, err = fh.Write(data)
	if err == nil {
		err = fh.Chown(uid, gid)
	}
	return errors.Join(err, fh.Close())
}

// wipe overwrites the decrypted values held in memory.
func (o *openSecrets) wipe() {
	if o == nil {
		return
	}
	for _, f := range o.files {
		clear(f.data)
	}
}

// removeSecrets deletes the secret files of container id.
func (c *Containerd) removeSecrets(id string) error {
	if err := os.RemoveAll(filepath.Join(c.cfg.SecretDir, id)); err != nil {
		return fmt.Errorf("secrets of %s: %w", id, err)
	}
	return nil
}
