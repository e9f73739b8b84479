package main

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// releaseMemory keeps an idle agent small on devices with little memory.
// Every period it returns freed heap to the kernel (a pull or a fetch
// briefly needs tens of MB, which Go's scavenger returns only slowly) and
// pages out the read-only pages of its own binary: most of them are touched
// once at start-up (the containerd client registers thousands of protobuf
// descriptors) and never again. Pages a pass needs fault back in from the
// page cache.
func releaseMemory(ctx context.Context, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		debug.FreeOSMemory()
		pageOutBinary()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pageOutBinary advises the kernel to reclaim the executable's read-only
// mappings (MADV_PAGEOUT, Linux 5.4+). Errors are ignored: it is an
// optimisation only.
func pageOutBinary() {
	exe, err := os.Executable()
	if err != nil {
		return
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// start-end perms offset dev inode path
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != exe || strings.Contains(fields[1], "w") {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_PAGEOUT)
	}
}
