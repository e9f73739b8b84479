// Package source is the go-git adapter for the fleet repo: a cheap change
// check (one ref advertisement), a depth-1 fetch into a bare repository on
// disk, an fs.FS over a commit's tree (never a work tree), and the status
// channel that commits each node's report to its own ref.
//
// It satisfies reconciler.Source (Git) and reconciler.Reporter
// (StatusWriter) without importing the reconciler.
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
// an http(s) URL (https://user:token@host/…) are moved here by Validate.
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
	// URL of the fleet repo: file://, git://, http(s):// or ssh:// (or scp-like user@host:path).
	URL string
	// Branch is the tracked branch. Default "main".
	Branch string
	Auth   Auth
	// Dir holds the bare repository the commits are fetched into (the
	// agent's state dir). Required.
	Dir string
	// PollTimeout bounds one Head call. Default 15s.
	PollTimeout time.Duration
	// FetchTimeout bounds one fetch in Tree. Default 5m.
	FetchTimeout time.Duration
}

// Validate fills in defaults, moves credentials out of an http(s) URL into
// Auth, and checks the rest.
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
	if c.Dir == "" {
		errs = append(errs, errors.New("source: dir is required"))
	}
	if strings.HasPrefix(c.Branch, "refs/") || strings.ContainsAny(c.Branch, " ~^:?*[\\") {
		errs = append(errs, fmt.Errorf("source: invalid branch %q (give a name such as main)", c.Branch))
	}
	url, err := NormalizeURL(c.URL, &c.Auth)
	if err != nil {
		errs = append(errs, err)
	}
	c.URL = url
	return errors.Join(errs...)
}

// NormalizeURL checks url (file, git, http(s) or ssh) and moves the
// credentials of an http(s) URL into auth, unless auth has its own; it
// returns the URL without them.
func NormalizeURL(url string, auth *Auth) (string, error) {
	if url == "" {
		return "", errors.New("source: url is required")
	}
	ep, err := transport.NewEndpoint(url)
	if err != nil {
		// The endpoint parser's error would repeat the URL with its secrets.
		return "", fmt.Errorf("source: invalid url %s", redactRaw(url))
	}
	switch ep.Protocol {
	case "file", "git", "http", "https", "ssh":
	default:
		return "", fmt.Errorf("source: unsupported url scheme %q in %s", ep.Protocol, Redact(url))
	}
	if (ep.Protocol == "http" || ep.Protocol == "https") && (ep.User != "" || ep.Password != "") {
		if auth.Username == "" && auth.Password == "" {
			auth.Username, auth.Password = ep.User, ep.Password
		}
		ep.User, ep.Password = "", ""
		return ep.String(), nil
	}
	return url, nil
}

// Redact returns url without credentials: the whole user-info of an
// http(s) URL (a token is often written as the user name) and the password
// of any other.
func Redact(url string) string {
	ep, err := transport.NewEndpoint(url)
	if err != nil {
		return redactRaw(url)
	}
	ep.Password = ""
	if ep.Protocol == "http" || ep.Protocol == "https" {
		ep.User = ""
	}
	if ep.Protocol == "file" {
		return "file://" + ep.Path
	}
	return ep.String()
}

// redactRaw drops anything between "://" and the last "@" of the authority.
func redactRaw(url string) string {
	scheme, rest, ok := strings.Cut(url, "://")
	if !ok {
		return url
	}
	host, path, _ := strings.Cut(rest, "/")
	if i := strings.LastIndex(host, "@"); i >= 0 {
		host = "***@" + host[i+1:]
	}
	if path != "" || strings.Contains(rest, "/") {
		return scheme + "://" + host + "/" + path
	}
	return scheme + "://" + host
}

// AuthMethod builds go-git's auth for url; nil means none (or the ssh
// agent). connectTimeout bounds an ssh connection's setup.
func AuthMethod(url string, a Auth, connectTimeout time.Duration) (transport.AuthMethod, error) {
	ep, err := transport.NewEndpoint(url)
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
