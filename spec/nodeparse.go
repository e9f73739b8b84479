package spec

import (
	"path"
	"runtime"
	"sync"
	"sync/atomic"
)

// parallelNodes is the number of node files above which Parse and
// ParseNodes decode them on GOMAXPROCS goroutines; below it (an agent's
// own file, a small fleet) they start no goroutine.
const parallelNodes = 64

// noShortcuts turns off PlainNode and the parallel decoding of node files,
// for tests that hold them to the plain path.
var noShortcuts atomic.Bool

// nodeFile is one node file read and decoded, before its checks.
type nodeFile struct {
	data    []byte
	readErr error     // I/O error reading it
	errs    errorList // what reading and decoding it reported
	node    Node
	doc     *document
	ok      bool // node holds its document
	plain   bool // PlainNode read it: it passes every check
}

// readNode reads e's bytes, keeping what reading reports apart from p.errs.
func (p *parser) readNode(e entry) *nodeFile {
	d := &nodeFile{}
	saved := p.errs
	p.errs = nil
	d.data, d.readErr = p.read(e.file)
	d.errs, p.errs = p.errs, saved
	return d
}

// decodeNode decodes the bytes readNode read: with PlainNode when plain
// and it reads them, else with the strict decoder. It touches nothing but
// d, so that several run at once.
func decodeNode(e entry, d *nodeFile, plain bool) {
	if d.data == nil {
		return
	}
	if plain {
		if n, ok := PlainNode(path.Base(e.file), d.data); ok {
			d.node, d.ok, d.plain = n, true, true
			return
		}
	}
	d.doc, d.ok = decodeFile(e.file, d.data, &d.node, &d.errs)
}

// nodes reads, decodes and checks the node files of entries in order, as
// node does one by one. With more than parallelNodes of them, this
// goroutine reads the files (an fs.FS need not be safe for concurrent
// use) while GOMAXPROCS goroutines decode them; the checks, which may read
// secret files, then run here in order, so that p.errs and p.repo end as
// node one by one leaves them. each, when not nil, is called around the
// checks of each file (ParseNodes' cache notes what they read).
func (p *parser) nodes(entries []entry, each func(i int, check func() error) error) error {
	check := func(i int, d *nodeFile) error {
		if each == nil {
			return p.checkNode(entries[i], d)
		}
		return each(i, func() error { return p.checkNode(entries[i], d) })
	}
	workers := runtime.GOMAXPROCS(0)
	if len(entries) <= parallelNodes || workers < 2 || noShortcuts.Load() {
		for i, e := range entries {
			d := p.readNode(e)
			if d.readErr == nil {
				decodeNode(e, d, !noShortcuts.Load())
			}
			if err := check(i, d); err != nil {
				return err
			}
		}
		return nil
	}
	files := make([]*nodeFile, len(entries))
	next := make(chan int, 4*workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				decodeNode(entries[i], files[i], true)
			}
		})
	}
	read := len(entries)
	for i, e := range entries {
		files[i] = p.readNode(e)
		if files[i].readErr != nil {
			read = i + 1 // checkNode returns the error; later files are not read
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	for i := range read {
		if err := check(i, files[i]); err != nil {
			return err
		}
	}
	return nil
}
