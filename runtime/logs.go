package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/gitfleet/gitfleet/spec"
)

// Workload logs. The shim of each task appends the task's output to
// <LogDir>/<workload>.log itself (cio.LogFile, opened O_APPEND), so logs
// survive the agent. RotateLogs caps them by copy and truncate, as
// logrotate's copytruncate does: the shim keeps its file open and goes on
// appending at the new end. Output written between the copy and the
// truncation (a few microseconds) is lost.

// RotateLogs rotates every workload log in LogDir larger than LogMaxBytes:
// <workload>.log.N-1 becomes .N (the oldest, .LogMaxFiles, is dropped),
// the log is copied to .1 and truncated to nothing. It goes on past a
// failing file and returns every error.
func (c *Containerd) RotateLogs() error {
	return rotateLogs(c.cfg.LogDir, c.cfg.LogMaxBytes, c.cfg.LogMaxFiles)
}

func rotateLogs(dir string, maxBytes int64, keep int) error {
	des, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("rotate logs: %w", err)
	}
	var errs []error
	for _, de := range des {
		if !de.Type().IsRegular() || !strings.HasSuffix(de.Name(), ".log") {
			continue
		}
		fi, err := de.Info()
		if err != nil || fi.Size() <= maxBytes {
			continue
		}
		if err := rotate(filepath.Join(dir, de.Name()), keep); err != nil {
			errs = append(errs, fmt.Errorf("rotate %s: %w", de.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// rotate shifts path's rotated files, copies path to path.1 and truncates
// path.
func rotate(path string, keep int) error {
	if keep < 1 {
		keep = 1
	}
	for i := keep - 1; i >= 1; i-- {
		err := os.Rename(fmt.Sprintf("%s.%d", path, i), fmt.Sprintf("%s.%d", path, i+1))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	src, err := os.Open(path)
	if err != nil {
		return err
	}
	defer src.Close()
	tmp := path + ".1.tmp"
	dst, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		os.Remove(tmp)
		return err
	}
	if err := dst.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path+".1"); err != nil {
		return err
	}
	return os.Truncate(path, 0)
}

// LogTail returns the end of workload d's log, at most LogTailBytes (from
// the rotated file too when the log was just rotated), starting at a line,
// for its status report. Every value of d's secrets is replaced by
// "[secret NAME]": the values are decrypted again for that (the node's
// identity is at hand) and wiped after. It returns "" when there is no
// log, and never a secret: when a secret cannot be decrypted to redact it,
// it returns a note instead of the log.
func (c *Containerd) LogTail(d spec.Desired) string {
	tail := readTail(c.Logs(d.Name), c.cfg.LogTailBytes)
	if len(tail) == 0 {
		return ""
	}
	for _, s := range d.Spec.Secrets {
		if c.cfg.Secrets == nil {
			return "(log not shown: its secrets cannot be decrypted to redact them)"
		}
		v, err := c.cfg.Secrets.Decrypt(s.Data)
		if err != nil {
			return "(log not shown: its secrets cannot be decrypted to redact them)"
		}
		if len(v) > 0 {
			tail = bytes.ReplaceAll(tail, v, []byte("[secret "+s.Name+"]"))
		}
		clear(v)
	}
	return printable(tail)
}

// readTail reads the last n bytes of path, taking from path.1 what path
// lacks, and drops a first line cut in the middle.
func readTail(path string, n int) []byte {
	cur := lastBytes(path, n)
	if len(cur) < n {
		cur = append(lastBytes(path+".1", n-len(cur)), cur...)
	}
	if len(cur) >= n {
		if i := bytes.IndexByte(cur, '\n'); i >= 0 && i+1 < len(cur) {
			cur = cur[i+1:]
		}
	}
	return cur
}

// lastBytes returns up to n bytes from the end of path (nil when it does
// not exist).
func lastBytes(path string, n int) []byte {
	if n <= 0 {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil
	}
	off := max(fi.Size()-int64(n), 0)
	b := make([]byte, fi.Size()-off)
	k, _ := f.ReadAt(b, off)
	return b[:k]
}

// printable is b as valid UTF-8 without control characters other than
// newlines and tabs (terminal escapes, carriage returns), trailing newlines
// trimmed.
func printable(b []byte) string {
	s := strings.ToValidUTF8(string(b), string(utf8.RuneError))
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' || r >= ' ' && r != 0x7f {
			return r
		}
		return -1
	}, s)
	return strings.TrimRight(s, "\n")
}
