package source

import (
	"bytes"
	"io"
	"path"
	"strconv"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/klauspost/compress/zlib"
)

// maxLooseObject bounds what loose reads whole into memory; a larger
// object is left to go-git, which streams it.
const maxLooseObject = 64 << 20

// loose reads object id when the repository holds it as a loose object
// (objects/<2 hex>/<38 hex>): a commit or a tree that `git commit` or
// `git fast-import` wrote after the last repack, such as the head of a
// pull request. go-git reads it through the standard library's zlib and
// hashes it as it reads; nodes/ of a 10,000-node fleet is a tree of about
// 400 KB. Like the packs' objects, it is not hashed again: the repository
// is local. false when there is none or it does not read, for go-git to
// read it and say why.
func (p *packBlobs) loose(id plumbing.Hash) (*packedObject, bool) {
	typ, size, body, ok := p.looseOpen(id)
	if !ok {
		return nil, false
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(body, data); err != nil {
		return nil, false
	}
	return &packedObject{id: id, typ: typ, data: data}, true
}

// looseOpen reads the header of the loose object id and returns its type,
// its size and a reader of its content (the file is read whole, so the
// reader holds nothing to close). false as for loose.
func (p *packBlobs) looseOpen(id plumbing.Hash) (typ plumbing.ObjectType, size int64, body io.Reader, ok bool) {
	hex := id.String()
	file := path.Join("objects", hex[:2], hex[2:])
	fi, err := p.packs.Stat(file)
	if err != nil {
		return 0, 0, nil, false
	}
	f, err := p.packs.Open(file)
	if err != nil {
		return 0, 0, nil, false
	}
	raw, err := readSized(f, fi.Size())
	f.Close()
	if err != nil {
		return 0, 0, nil, false
	}
	zr, err := zlib.NewReader(bytes.NewReader(raw))
	if err != nil {
		return 0, 0, nil, false
	}
	// The header: "<type> <size>\x00".
	var head [32]byte
	n, nul := 0, -1
	for nul < 0 && n < len(head) {
		m, err := zr.Read(head[n:])
		n += m
		nul = bytes.IndexByte(head[:n], 0)
		if err != nil {
			break
		}
	}
	if nul < 0 {
		return 0, 0, nil, false
	}
	name, sizeText, ok := bytes.Cut(head[:nul], []byte{' '})
	if !ok {
		return 0, 0, nil, false
	}
	typ, err = plumbing.ParseObjectType(string(name))
	if err != nil {
		return 0, 0, nil, false
	}
	size, err = strconv.ParseInt(string(sizeText), 10, 64)
	if err != nil || size < 0 || size > maxLooseObject {
		return 0, 0, nil, false
	}
	first := head[nul+1 : nul+1+int(min(int64(n-nul-1), size))]
	return typ, size, io.MultiReader(bytes.NewReader(first), zr), true
}
