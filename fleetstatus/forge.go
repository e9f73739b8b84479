package fleetstatus

import (
	"net/url"
	"strings"
)

// CommitPlaceholder is replaced by a commit hash in a commit URL template.
const CommitPlaceholder = "{commit}"

// CommitURLOf is the commit page template (with CommitPlaceholder) of the
// repository at repoURL on a known forge, or "" (see commitURLTemplate).
func CommitURLOf(repoURL string) string { return commitURLTemplate(repoURL) }

// commitURLTemplate is the web page of a commit of the repository at
// repoURL when it is hosted on a forge whose URLs are known: GitHub
// (github.com), GitLab (a host named gitlab…: /-/commit/), Gitea and
// Forgejo (a host named gitea… or forgejo…, or codeberg.org: /commit/).
// repoURL may be an https, ssh or scp-like (git@host:owner/repo.git) URL.
// It returns "" for anything else (a local path, an unknown host).
func commitURLTemplate(repoURL string) string {
	host, path, ok := webPath(repoURL)
	if !ok {
		return ""
	}
	base := "https://" + host + "/" + path
	h := strings.ToLower(host)
	switch {
	case h == "github.com" || h == "www.github.com":
		return base + "/commit/" + CommitPlaceholder
	case strings.HasPrefix(h, "gitlab.") || h == "gitlab.com":
		return base + "/-/commit/" + CommitPlaceholder
	case strings.HasPrefix(h, "gitea.") || strings.HasPrefix(h, "forgejo.") || h == "codeberg.org":
		return base + "/commit/" + CommitPlaceholder
	}
	return ""
}

// webPath is the host and the owner/repo path of a remote URL, without a
// port, credentials or a .git suffix.
func webPath(raw string) (host, path string, ok bool) {
	if !strings.Contains(raw, "://") {
		// scp-like: [user@]host:owner/repo.git
		at := strings.LastIndexByte(raw, '@')
		h, p, found := strings.Cut(raw[at+1:], ":")
		if !found || strings.Contains(h, "/") {
			return "", "", false
		}
		raw = "ssh://" + h + "/" + strings.TrimPrefix(p, "/")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		return "", "", false
	}
	switch u.Scheme {
	case "http", "https", "ssh", "git":
	default:
		return "", "", false
	}
	path = strings.Trim(strings.TrimSuffix(strings.Trim(u.Path, "/"), ".git"), "/")
	if strings.Count(path, "/") < 1 {
		return "", "", false
	}
	return u.Hostname(), path, true
}

// CommitURL is the web page of commit on the forge of tmpl (a template
// with CommitPlaceholder), or "" without one.
func CommitURL(tmpl, commit string) string {
	if tmpl == "" || commit == "" {
		return ""
	}
	return strings.ReplaceAll(tmpl, CommitPlaceholder, commit)
}
