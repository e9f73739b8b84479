package source

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
)

// Defaults for Config.
const (
	DefaultBranch       = "main"
	DefaultPollTimeout  = 15 * time.Second
	DefaultFetchTimeout = 5 * time.Minute
)

// Auth holds the credentials for one remote. Which fields apply depends on
// the URL's scheme: Username and Password (or a token in Password) for
// http(s); SSHKeyFile and KnownHostsFile for ssh. Credentials written into
// an http(s) URL (https://user:token@host/…) are moved here by
// ParseLocation.
type Auth struct {
	// Username for basic auth; "git" when only Password is set.
	Username string
	// Password or access token for basic auth.
	Password string
	// SSHKeyFile is an unencrypted private key; empty means the ssh agent.
	SSHKeyFile string
	// KnownHostsFile pins the server's host key; empty means
	// $SSH_KNOWN_HOSTS, ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts.
	KnownHostsFile string
}

// Config configures a Git source.
type Config struct {
	// Location of the fleet repo (ParseLocation). Required.
	Location Location
	// Branch is the tracked branch. Default "main".
	Branch string
	// Dir holds the bare repository the commits are fetched into (the
	// agent's state dir). Required.
	Dir string
	// PollTimeout bounds one Head call. Default 15s.
	PollTimeout time.Duration
	// FetchTimeout bounds one fetch in Tree. Default 5m.
	FetchTimeout time.Duration
	// Traffic, when set, is told the bytes of every exchange with the
	// remote (OpPoll for Head, OpFetch for Tree and Deepen).
	Traffic Traffic
	// Node, when set, keeps of each fetched tree only what this node's
	// agent reads: everything but the files of nodes/ other than
	// nodes/<Node>.yaml (or .yml), so that the memory and the disk a fetch
	// takes do not grow with the fleet (see picker). The listing of nodes/
	// stays whole; reading another node's file (rollout waves count the
	// nodes a group selects) fetches the commit whole first, once per
	// Tree. Empty keeps everything. Not used for a local repository
	// (Location of a path), which is read in place.
	Node string
}

// Validate fills in defaults and checks the rest.
func (c *Config) Validate() error {
	if c.Branch == "" {
		c.Branch = DefaultBranch
	}
	if c.PollTimeout <= 0 {
		c.PollTimeout = DefaultPollTimeout
	}
	if c.FetchTimeout <= 0 {
		c.FetchTimeout = DefaultFetchTimeout
	}
	var errs []error
	if c.Location.IsZero() {
		errs = append(errs, errors.New("source: location is required"))
	}
	if c.Dir == "" {
		errs = append(errs, errors.New("source: dir is required"))
	}
	if err := checkBranch(c.Branch); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// checkBranch refuses what cannot be a branch's short name.
func checkBranch(b string) error {
	if strings.HasPrefix(b, "refs/") || strings.ContainsAny(b, " ~^:?*[\\") {
		return fmt.Errorf("source: invalid branch %q (give a name such as main)", b)
	}
	return nil
}

// authMethod builds go-git's auth for l; nil means none (or the ssh
// agent). connectTimeout bounds an ssh connection's setup.
func authMethod(l Location, connectTimeout time.Duration) (transport.AuthMethod, error) {
	if l.dir != "" {
		return nil, nil
	}
	a := l.auth
	ep, err := transport.NewEndpoint(l.url)
	if err != nil {
		return nil, err
	}
	switch ep.Protocol {
	case "http", "https":
		if a.Username == "" && a.Password == "" {
			return nil, nil
		}
		user := a.Username
		if user == "" {
			user = "git"
		}
		return &githttp.BasicAuth{Username: user, Password: a.Password}, nil
	case "ssh":
		if a.SSHKeyFile == "" {
			return nil, nil
		}
		user := ep.User
		if user == "" {
			user = "git"
		}
		keys, err := gitssh.NewPublicKeysFromFile(user, a.SSHKeyFile, "")
		if err != nil {
			return nil, fmt.Errorf("ssh key %s: %w", a.SSHKeyFile, err)
		}
		if a.KnownHostsFile != "" {
			db, err := gitssh.NewKnownHostsDb(a.KnownHostsFile)
			if err != nil {
				return nil, fmt.Errorf("known hosts %s: %w", a.KnownHostsFile, err)
			}
			port := ep.Port
			if port == 0 {
				port = 22
			}
			keys.HostKeyCallback = db.HostKeyCallback()
			keys.HostKeyAlgorithms = db.HostKeyAlgorithms(net.JoinHostPort(ep.Host, fmt.Sprint(port)))
		}
		return &sshAuth{PublicKeys: keys, timeout: connectTimeout}, nil
	}
	return nil, nil
}

// sshAuth bounds the ssh connection setup, which go-git does without a
// context.
type sshAuth struct {
	*gitssh.PublicKeys
	timeout time.Duration
}

func (a *sshAuth) ClientConfig() (*ssh.ClientConfig, error) {
	c, err := a.PublicKeys.ClientConfig()
	if err != nil {
		return nil, err
	}
	c.Timeout = a.timeout
	return c, nil
}
