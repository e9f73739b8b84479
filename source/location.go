package source

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
)

// Location is where a git repository is: a remote reached by URL, or a
// repository on this machine's file system (a work tree, or a bare
// repository such as a USB stick's gitfleet/fleet.git). It is parsed once,
// with ParseLocation, where the string enters the program (a flag, a
// config file); credentials written into the URL are split off there and
// String never shows them.
//
// Every reader in this package takes a Location and treats both kinds
// alike: the agent (New, NewStatusWriter) and ReadReports talk to a local
// repository through git's file transport exactly as to a server, and Open
// reads a local one in place where it fetches a remote one into memory.
// The zero Location is invalid.
type Location struct {
	url  string // without credentials: what go-git is given and what is printed
	dir  string // absolute path of a repository on this machine; "" for a remote
	auth Auth
	// inProcess: read and written by go-git alone (LocalRepository).
	inProcess bool
}

// ParseLocation parses s: a URL (file://, git://, http(s)://, ssh://), an
// scp-like address (user@host:path) or a path (absolute or relative to the
// working directory; a colon before the first slash makes it scp-like, as
// for git itself). Credentials in an http(s) URL (https://user:token@host/…)
// are moved into the location's Auth unless auth has its own; a password in
// an ssh URL is dropped (ssh authenticates with keys). The path is not
// checked here: opening a location that does not exist fails then, naming
// it.
func ParseLocation(s string, auth Auth) (Location, error) {
	if s == "" {
		return Location{}, errors.New("source: location is required (a URL or a path)")
	}
	if !strings.Contains(s, "://") && isLocalPath(s) {
		abs, err := filepath.Abs(s)
		if err != nil {
			return Location{}, fmt.Errorf("source: location %s: %w", s, err)
		}
		return localLocation(abs, auth), nil
	}
	if scheme, _, _ := strings.Cut(s, "://"); strings.EqualFold(scheme, "file") {
		u, err := url.Parse(s)
		if err != nil || u.User != nil || (u.Host != "" && u.Host != "localhost") || !filepath.IsAbs(u.Path) {
			return Location{}, fmt.Errorf("source: invalid file url %s: want file:///absolute/path", redactRaw(s))
		}
		return localLocation(filepath.Clean(u.Path), auth), nil
	}
	ep, err := transport.NewEndpoint(s)
	if err != nil {
		// The endpoint parser's error would repeat the URL with its secrets.
		return Location{}, fmt.Errorf("source: invalid url %s", redactRaw(s))
	}
	switch ep.Protocol {
	case "git", "http", "https", "ssh":
	default:
		return Location{}, fmt.Errorf("source: unsupported url scheme %q in %s", ep.Protocol, redactRaw(s))
	}
	if ep.Protocol == "http" || ep.Protocol == "https" {
		if auth.Username == "" && auth.Password == "" {
			auth.Username, auth.Password = ep.User, ep.Password
		}
		ep.User = ""
	}
	ep.Password = ""
	u := ep.String()
	if ep.Protocol == "ssh" && !strings.Contains(s, "://") {
		// An scp-like path is relative to the login's home; the URL form
		// would make it absolute.
		u = s
	}
	return Location{url: u, auth: auth}, nil
}

func localLocation(dir string, auth Auth) Location {
	return Location{
		url:  (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}).String(),
		dir:  dir,
		auth: auth,
	}
}

// isLocalPath follows git's rule (url.c, url_is_local_not_ssh): a string
// without "://" is a path unless a colon comes before its first slash.
func isLocalPath(s string) bool {
	colon := strings.IndexByte(s, ':')
	slash := strings.IndexByte(s, '/')
	return colon < 0 || (slash >= 0 && slash < colon)
}

// String is the location without credentials: the URL of a remote, the
// file:// URL of a local repository.
func (l Location) String() string { return l.url }

// Dir is the absolute path of a repository on this machine, or "" for a
// remote one.
func (l Location) Dir() string { return l.dir }

// IsZero reports whether l is the zero Location (not parsed).
func (l Location) IsZero() bool { return l.url == "" }

// secrets lists what must never appear in an error or a report.
func (l Location) secrets() []string {
	var s []string
	if l.auth.Password != "" {
		s = append(s, l.auth.Password)
	} else if len(l.auth.Username) >= 8 {
		// A token given as the user name.
		s = append(s, l.auth.Username)
	}
	return s
}

// redactRaw drops anything between "://" and the last "@" of the authority
// of a string that did not parse.
func redactRaw(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		if at := strings.LastIndexByte(s, '@'); at >= 0 {
			return "***" + s[at:]
		}
		return s
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
