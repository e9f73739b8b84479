package image

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Login is how a client signs in to one registry, with the meaning of the
// Docker config.json fields: a user name and password (basic, or traded
// for a bearer token at the registry's token service), an identity token
// (an OAuth2 refresh token) or a registry token (sent as a bearer token).
type Login struct {
	Username, Password string
	IdentityToken      string
	RegistryToken      string
}

// String never shows a secret: Login may end up in a log line by mistake.
func (l Login) String() string {
	if l.Username != "" {
		return "login " + l.Username + " (password redacted)"
	}
	if l.IdentityToken != "" || l.RegistryToken != "" {
		return "token login (redacted)"
	}
	return "anonymous"
}

// Credentials are registry logins read from a file in the Docker
// config.json format (its "auths" section, as docker login writes it) and
// client certificates in the Docker certs.d layout: <certsDir>/<host>/
// holding client.cert and client.key, and optionally ca.crt. A host that is
// in neither is reached anonymously with the system's CAs.
type Credentials struct {
	logins   map[string]Login
	certsDir string

	mu     sync.Mutex
	byHost map[string]*http.Transport
}

// dockerConfig is the part of config.json gitfleet reads.
type dockerConfig struct {
	Auths map[string]struct {
		Auth          string `json:"auth"`
		Username      string `json:"username"`
		Password      string `json:"password"`
		IdentityToken string `json:"identitytoken"`
		RegistryToken string `json:"registrytoken"`
	} `json:"auths"`
}

// LoadCredentials reads the logins in file (empty: none) and remembers
// certsDir (empty: no client certificates). A file that does not exist is
// an error unless missingOK, the case of a default path nobody set up.
// Errors name the file and the registry but never a secret.
func LoadCredentials(file, certsDir string, missingOK bool) (*Credentials, error) {
	c := &Credentials{logins: map[string]Login{}, certsDir: certsDir, byHost: map[string]*http.Transport{}}
	if file == "" {
		return c, nil
	}
	b, err := os.ReadFile(file)
	if missingOK && errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("registry credentials: %w", err)
	}
	var cfg dockerConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		// The decoder's message may quote the file: keep only its kind.
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("registry credentials %s: invalid JSON at byte %d", file, se.Offset)
		}
		return nil, fmt.Errorf("registry credentials %s: want {\"auths\": {\"<host>\": {\"auth\": \"<base64 user:password>\"}}}", file)
	}
	for key, a := range cfg.Auths {
		host := registryHost(key)
		l := Login{Username: a.Username, Password: a.Password, IdentityToken: a.IdentityToken, RegistryToken: a.RegistryToken}
		if a.Auth != "" {
			dec, err := base64.StdEncoding.DecodeString(a.Auth)
			user, pass, ok := strings.Cut(string(dec), ":")
			if err != nil || !ok {
				return nil, fmt.Errorf("registry credentials %s: auths[%q].auth: want base64 of user:password", file, key)
			}
			l.Username, l.Password = user, pass
		}
		c.logins[host] = l
	}
	return c, nil
}

// registryHost turns a config.json key ("host:port", "https://host/v1/")
// into a host as image references name it.
func registryHost(key string) string {
	if strings.Contains(key, "://") {
		if u, err := url.Parse(key); err == nil {
			key = u.Host
		}
	}
	key, _, _ = strings.Cut(key, "/")
	switch key {
	case "docker.io", "registry-1.docker.io":
		return "index.docker.io"
	}
	return key
}

// Login returns host's login; ok is false for a host without one.
func (c *Credentials) Login(host string) (l Login, ok bool) {
	if c == nil {
		return Login{}, false
	}
	l, ok = c.logins[registryHost(host)]
	return l, ok
}

// TLSConfig returns the TLS settings for host from <certsDir>/<host>/:
// the client certificate client.cert with its key client.key, and the CA
// ca.crt trusted besides the system's. It returns nil (the defaults) for a
// host without such a directory.
func (c *Credentials) TLSConfig(host string) (*tls.Config, error) {
	if c == nil || c.certsDir == "" {
		return nil, nil
	}
	dir := filepath.Join(c.certsDir, host)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca, err := os.ReadFile(filepath.Join(dir, "ca.crt")); err == nil {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(ca) {
			return nil, fmt.Errorf("registry %s: %s holds no PEM certificate", host, filepath.Join(dir, "ca.crt"))
		}
		cfg.RootCAs = pool
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("registry %s: %w", host, err)
	}
	certFile, keyFile := filepath.Join(dir, "client.cert"), filepath.Join(dir, "client.key")
	if _, err := os.Stat(certFile); err == nil {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("registry %s: client certificate: %w", host, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// transport returns the shared HTTP transport for host, with host's TLS
// settings.
func (c *Credentials) transport(host string) (http.RoundTripper, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.byHost[host]; ok {
		return t, nil
	}
	tlsCfg, err := c.TLSConfig(host)
	if err != nil {
		return nil, err
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	if tlsCfg != nil {
		t.TLSClientConfig = tlsCfg
	}
	c.byHost[host] = t
	return t, nil
}
