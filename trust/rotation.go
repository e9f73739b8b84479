package trust

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// RepoTrustDir is the repo folder whose keys may extend the node's trust.
const RepoTrustDir = "trust"

// maxKeyFileSize caps each key file read from the repo.
const maxKeyFileSize = 1 << 20

// TrustFiles names the repo files (slash paths from the repo root, each
// under trust/) that hold commit keys.
type TrustFiles struct {
	// AllowedSigners are files in git's allowed_signers format.
	AllowedSigners []string
	// OpenPGPKeys are armored or binary OpenPGP public keys.
	OpenPGPKeys []string
}

// trustTree returns the hash of c's trust/ tree, or the zero hash if c has
// no trust/ folder.
func trustTree(c *object.Commit) (plumbing.Hash, error) {
	tree, err := c.Tree()
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("tree of %s: %w", short(c.Hash), err)
	}
	e, err := tree.FindEntry(RepoTrustDir)
	if errors.Is(err, object.ErrEntryNotFound) || errors.Is(err, object.ErrDirectoryNotFound) {
		return plumbing.ZeroHash, nil
	}
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("%s/ in %s: %w", RepoTrustDir, short(c.Hash), err)
	}
	return e.Hash, nil
}

// honoured applies the rotation rule to c, whose trust state is ts (a
// trust/ folder and the image keys fleet.yaml names): every path back from
// c through commits with the same state must reach a commit signed by a key
// of local (or the last applied revision, or a commit already found
// honoured) before it reaches a commit with no parent or with a parent
// whose state differs: the commit that changed the trust. It returns that
// offending commit and what it changed when the rule fails, and
// ErrHistoryMissing when the walk needs commits a shallow repository
// lacks.
func (v *Verifier) honoured(ctx context.Context, st *verifyState, c *object.Commit, ts trustState) (ok bool, changer *object.Commit, what string, err error) {
	visited := []plumbing.Hash{}
	var bad *object.Commit
	what = RepoTrustDir + "/"
	var treeErr error
	err = st.w.walk(ctx, c.Hash, func(x *object.Commit) bool {
		if bad != nil || treeErr != nil {
			return false
		}
		if st.honoured[x.Hash] || x.Hash == st.lastApplied {
			return false
		}
		visited = append(visited, x.Hash)
		if x.Hash != c.Hash { // c itself is known not to be locally signed
			if _, err := v.local.verifyAt(x, st.floor); err == nil {
				return false
			}
		}
		if len(x.ParentHashes) == 0 {
			bad = x
			return false
		}
		ps, perr := st.w.parents(x)
		if perr != nil {
			return true // the walk reports the missing history itself
		}
		for _, p := range ps {
			pt, terr := stateOf(p)
			if terr != nil {
				treeErr = terr
				return false
			}
			if pt != ts {
				bad, what = x, ts.changed(pt)
				return false
			}
		}
		return true
	})
	if treeErr != nil {
		return false, nil, "", treeErr
	}
	if bad != nil {
		return false, bad, what, nil
	}
	if err != nil {
		return false, nil, "", fmt.Errorf("key rotation check for %s: %w", short(c.Hash), err)
	}
	for _, h := range visited {
		st.honoured[h] = true
	}
	return true, nil, "", nil
}

// repoTrust reads the commit keys under trust/ at c.
func (v *Verifier) repoTrust(ctx context.Context, c *object.Commit) (*TrustSet, error) {
	var files TrustFiles
	if v.opts.RepoTrustPaths != nil {
		var err error
		if files, err = v.opts.RepoTrustPaths(ctx, c.Hash.String()); err != nil {
			return nil, err
		}
	} else {
		var err error
		if files, err = defaultTrustFiles(c); err != nil {
			return nil, err
		}
	}
	data := map[string][]byte{}
	for _, p := range append(append([]string{}, files.AllowedSigners...), files.OpenPGPKeys...) {
		clean := path.Clean(p)
		if clean != p || !strings.HasPrefix(p, RepoTrustDir+"/") {
			return nil, fmt.Errorf("key file %q is not under %s/: only %s/ is covered by the rotation rule", p, RepoTrustDir, RepoTrustDir)
		}
		f, err := c.File(p)
		if err != nil {
			return nil, fmt.Errorf("key file %s: %w", p, err)
		}
		if f.Size > maxKeyFileSize {
			return nil, fmt.Errorf("key file %s: %d bytes, more than %d", p, f.Size, maxKeyFileSize)
		}
		r, err := f.Reader()
		if err != nil {
			return nil, fmt.Errorf("key file %s: %w", p, err)
		}
		b, err := io.ReadAll(io.LimitReader(r, maxKeyFileSize))
		r.Close()
		if err != nil {
			return nil, fmt.Errorf("key file %s: %w", p, err)
		}
		data[p] = b
	}
	return parseFiles(data, files.AllowedSigners, files.OpenPGPKeys)
}

// defaultTrustFiles lists the files directly in trust/ that
// IsCommitKeyFile accepts.
func defaultTrustFiles(c *object.Commit) (TrustFiles, error) {
	var files TrustFiles
	tree, err := c.Tree()
	if err != nil {
		return files, err
	}
	dir, err := tree.Tree(RepoTrustDir)
	if err != nil {
		return files, fmt.Errorf("%s/: %w", RepoTrustDir, err)
	}
	for _, e := range dir.Entries {
		if !e.Mode.IsFile() || e.Mode == filemode.Symlink || !IsCommitKeyFile(e.Name) {
			continue
		}
		p := RepoTrustDir + "/" + e.Name
		if e.Name == "allowed_signers" {
			files.AllowedSigners = append(files.AllowedSigners, p)
		} else {
			files.OpenPGPKeys = append(files.OpenPGPKeys, p)
		}
	}
	return files, nil
}
