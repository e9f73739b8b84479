package runtime

import (
	"errors"
	"fmt"
	"net"
	"os"
	goruntime "runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// nsfsMagic is the filesystem type of a bound namespace file.
const nsfsMagic = 0x6e736673

// newNetns creates a network namespace and binds it to path, which must
// not exist. The namespace has only a loopback interface, down.
func newNetns(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return fmt.Errorf("network namespace: %w", err)
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		// The thread enters the new namespace, binds it and returns to its
		// own. It is unlocked only once back: a thread that cannot return
		// stays locked, and Go ends it with this goroutine. (Ending threads
		// as a rule would fire the parent-death signal of any child process
		// that thread once started.)
		goruntime.LockOSThread()
		self := "/proc/self/task/" + strconv.Itoa(unix.Gettid()) + "/ns/net"
		orig, err := os.Open(self)
		if err != nil {
			goruntime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			goruntime.UnlockOSThread()
			errc <- fmt.Errorf("unshare: %w", err)
			return
		}
		err = unix.Mount(self, path, "", unix.MS_BIND, "")
		if back := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); back != nil {
			errc <- errors.Join(err, fmt.Errorf("return to the agent's network namespace: %w", back))
			return
		}
		goruntime.UnlockOSThread()
		errc <- err
	}()
	if err := <-errc; err != nil {
		os.Remove(path)
		return fmt.Errorf("network namespace %s: %w", path, err)
	}
	return nil
}

// isNetns reports whether path is a bound namespace (not the empty file a
// reboot leaves, nor nothing).
func isNetns(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == nsfsMagic
}

// removeNetns unbinds the namespace at path and removes the file. A
// missing file is no error.
func removeNetns(path string) error {
	for {
		err := unix.Unmount(path, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW)
		if err == nil {
			continue
		}
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("unmount network namespace %s: %w", path, err)
		}
		break
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("network namespace %s: %w", path, err)
	}
	return nil
}

// nodeNetns is the network namespace of the process serving containerd's
// socket: the node's network as containers with host networking see it.
func nodeNetns(address string) (string, error) {
	conn, err := net.Dial("unix", address)
	if err != nil {
		return "", fmt.Errorf("containerd's network namespace: %w", err)
	}
	defer conn.Close()
	raw, err := conn.(*net.UnixConn).SyscallConn()
	if err != nil {
		return "", err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return "", err
	}
	if cerr != nil {
		return "", fmt.Errorf("containerd's network namespace: %w", cerr)
	}
	return "/proc/" + strconv.Itoa(int(cred.Pid)) + "/ns/net", nil
}

// sameFile reports whether two paths name one namespace.
func sameFile(a, b string) bool {
	var sa, sb unix.Stat_t
	return unix.Stat(a, &sa) == nil && unix.Stat(b, &sb) == nil && sa.Dev == sb.Dev && sa.Ino == sb.Ino
}

// inNetns runs fn on a thread that has entered the network namespace at
// path, so that the processes fn starts (the CNI plugins) and the sockets
// it opens are there. fn must not hand its work to other goroutines. The
// thread returns to its own namespace before it is unlocked; one that
// cannot stays locked and ends with the goroutine.
func inNetns(path string, fn func() error) error {
	if sameFile(path, "/proc/self/ns/net") {
		return fn()
	}
	target, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("network namespace: %w", err)
	}
	defer target.Close()
	errc := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		orig, err := os.Open("/proc/self/task/" + strconv.Itoa(unix.Gettid()) + "/ns/net")
		if err != nil {
			goruntime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			goruntime.UnlockOSThread()
			errc <- fmt.Errorf("enter %s: %w", path, err)
			return
		}
		err = fn()
		if back := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); back != nil {
			errc <- errors.Join(err, fmt.Errorf("return to the agent's network namespace: %w", back))
			return
		}
		goruntime.UnlockOSThread()
		errc <- err
	}()
	return <-errc
}
