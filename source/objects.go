package source

import (
	"bytes"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"
)

// buildCommit makes the objects of a commit whose tree holds one file,
// status/<name>, and returns them as a pack together with the commit's hash.
func buildCommit(name string, data []byte, parents []plumbing.Hash, sig object.Signature, msg string, signer Signer) ([]byte, plumbing.Hash, error) {
	s := memory.NewStorage()
	var hashes []plumbing.Hash
	put := func(encode func(plumbing.EncodedObject) error) (plumbing.Hash, error) {
		o := s.NewEncodedObject()
		if err := encode(o); err != nil {
			return plumbing.ZeroHash, err
		}
		h, err := s.SetEncodedObject(o)
		hashes = append(hashes, h)
		return h, err
	}
	blob, err := put(func(o plumbing.EncodedObject) error {
		o.SetType(plumbing.BlobObject)
		w, err := o.Writer()
		if err != nil {
			return err
		}
		if _, err := w.Write(data); err != nil {
			return err
		}
		return w.Close()
	})
	if err != nil {
		return nil, plumbing.ZeroHash, err
	}
	dir, err := put((&object.Tree{Entries: []object.TreeEntry{{Name: name, Mode: filemode.Regular, Hash: blob}}}).Encode)
	if err != nil {
		return nil, plumbing.ZeroHash, err
	}
	root, err := put((&object.Tree{Entries: []object.TreeEntry{{Name: "status", Mode: filemode.Dir, Hash: dir}}}).Encode)
	if err != nil {
		return nil, plumbing.ZeroHash, err
	}
	c := &object.Commit{Author: sig, Committer: sig, Message: msg, TreeHash: root, ParentHashes: parents}
	if signer != nil {
		// As git commit -S: sign the commit as encoded without a
		// signature, then put the signature in its gpgsig header.
		unsigned := &plumbing.MemoryObject{}
		if err := c.EncodeWithoutSignature(unsigned); err != nil {
			return nil, plumbing.ZeroHash, err
		}
		r, err := unsigned.Reader()
		if err != nil {
			return nil, plumbing.ZeroHash, err
		}
		armored, err := signer.Sign(r)
		if err != nil {
			return nil, plumbing.ZeroHash, err
		}
		c.PGPSignature = string(armored)
	}
	commit, err := put(c.Encode)
	if err != nil {
		return nil, plumbing.ZeroHash, err
	}
	var pack bytes.Buffer
	if _, err := packfile.NewEncoder(&pack, s, false).Encode(hashes, 0); err != nil {
		return nil, plumbing.ZeroHash, err
	}
	return pack.Bytes(), commit, nil
}
