package source

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// objectCacheSize bounds go-git's decoded-object cache (its default is
// 96 MiB). The largest object the agent reads is the nodes/ tree, about
// 40 bytes a node.
const objectCacheSize = 4 * cache.MiByte

// store is a bare repository on disk. Its directory belongs to this
// package: re-creating it removes git's files there.
type store struct {
	dir string
	s   *filesystem.Storage
	// created: openStore made the repository (it held nothing before).
	created bool
}

func openStore(dir string) (*store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	s := filesystem.NewStorageWithOptions(osfs.New(dir), cache.NewObjectLRU(objectCacheSize),
		filesystem.Options{MaxOpenDescriptors: 8, LargeObjectThreshold: largeObject})
	created := false
	if _, err := os.Stat(filepath.Join(dir, "HEAD")); errors.Is(err, os.ErrNotExist) {
		_, oerr := os.Stat(filepath.Join(dir, "objects"))
		created = errors.Is(oerr, os.ErrNotExist)
		if _, err := git.Init(s, nil); err != nil {
			return nil, fmt.Errorf("source: init %s: %w", dir, err)
		}
	}
	return &store{dir: dir, s: s, created: created}, nil
}

// recreateStore removes the repository's git files in dir (nothing else)
// and opens an empty one.
func recreateStore(dir string) (*store, error) {
	for _, name := range []string{"objects", "refs", "shallow", "packed-refs", "HEAD", "config", "index"} {
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return nil, fmt.Errorf("source: reset %s: %w", dir, err)
		}
	}
	return openStore(dir)
}

// packs counts the pack files, one per fetch.
func (st *store) packs() int {
	n := 0
	ents, _ := os.ReadDir(filepath.Join(st.dir, "objects", "pack"))
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".pack") {
			n++
		}
	}
	return n
}

// cleanTemp removes what an interrupted fetch left behind.
func (st *store) cleanTemp() {
	ents, _ := os.ReadDir(filepath.Join(st.dir, "objects", "pack"))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "tmp_") {
			os.Remove(filepath.Join(st.dir, "objects", "pack", e.Name()))
		}
	}
}

// goGitClient is go-git's transport for l's location on l's counted
// connections: go-git's HTTP client on them, or for git://, ssh:// and
// file:// the source's own streams (streamTransport). Only a repository
// read in process (LocalRepository) uses go-git's client as it is.
func (l *refLister) goGitClient() (transport.Transport, *transport.Endpoint, error) {
	if l.gogit == nil && (l.loc.inProcess || l.ep == nil) {
		return newClient(l.loc)
	}
	ep, err := transport.NewEndpoint(l.loc.url)
	if err != nil {
		return nil, nil, err
	}
	if l.gogit == nil {
		switch ep.Protocol {
		case "git", "ssh", "file":
			return streamTransport{l}, ep, nil
		}
		return newClient(l.loc)
	}
	return githttp.NewClient(l.gogit), ep, nil
}

// newClient returns go-git's transport for l's scheme and its endpoint: a
// local repository is reached through git's file transport, like a
// file:// URL.
func newClient(l Location) (transport.Transport, *transport.Endpoint, error) {
	ep, err := transport.NewEndpoint(l.url)
	if err != nil {
		return nil, nil, err
	}
	c, err := client.NewClient(ep)
	if err != nil {
		return nil, nil, err
	}
	return c, ep, nil
}
