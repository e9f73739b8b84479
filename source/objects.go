package source

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"hash/adler32"
	"io"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"
)

// buildCommit makes the objects of a commit whose tree holds one file,
// status/<name>, and returns them as a pack together with the commit's hash.
func buildCommit(name string, data []byte, parents []plumbing.Hash, sig object.Signature, msg string, signer Signer) ([]byte, plumbing.Hash, error) {
	s := memory.NewStorage()
	var objs []plumbing.EncodedObject
	put := func(encode func(plumbing.EncodedObject) error) (plumbing.Hash, error) {
		o := s.NewEncodedObject()
		if err := encode(o); err != nil {
			return plumbing.ZeroHash, err
		}
		objs = append(objs, o)
		return s.SetEncodedObject(o)
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
	pack, err := packObjects(objs)
	return pack, commit, err
}

// packObjects writes objs whole (no deltas) as a pack of version 2, each
// object's data as a zlib stream of stored (uncompressed) deflate blocks.
// A report is a kilobyte or two: compressing it saves the wire a few
// hundred bytes, while starting a compressor (go-git's encoder starts one
// per object) allocates about 1 MiB for its window and tables and takes a
// millisecond or two of CPU, more than the rest of a status commit. The
// server stores the objects compressed as it always does.
func packObjects(objs []plumbing.EncodedObject) ([]byte, error) {
	var pack bytes.Buffer
	head := binary.BigEndian.AppendUint32([]byte("PACK\x00\x00\x00\x02"), uint32(len(objs)))
	pack.Write(head)
	for _, o := range objs {
		// The object's type and size: the type and the size's low 4 bits
		// in the first byte, 7 more bits in each next one.
		size := o.Size()
		head = head[:0]
		b := byte(o.Type())<<4 | byte(size&0x0f)
		for size >>= 4; size > 0; size >>= 7 {
			head = append(head, b|0x80)
			b = byte(size & 0x7f)
		}
		pack.Write(append(head, b))
		r, err := o.Reader()
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			return nil, err
		}
		zlibStored(&pack, data)
	}
	sum := sha1.Sum(pack.Bytes())
	pack.Write(sum[:])
	return pack.Bytes(), nil
}

// zlibStored writes data as a zlib stream (RFC 1950) of stored deflate
// blocks (RFC 1951, 3.2.4), which any inflater reads.
func zlibStored(w *bytes.Buffer, data []byte) {
	sum := adler32.Checksum(data)
	w.Write([]byte{0x78, 0x01}) // deflate, 32 KiB window; no dictionary, fastest
	for {
		n := min(len(data), 0xffff)
		final := byte(0)
		if n == len(data) {
			final = 1
		}
		w.Write([]byte{final, byte(n), byte(n >> 8), ^byte(n), ^byte(n >> 8)})
		w.Write(data[:n])
		data = data[n:]
		if final == 1 {
			break
		}
	}
	w.Write(binary.BigEndian.AppendUint32(nil, sum))
}
