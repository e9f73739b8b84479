package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"
)

// What the sandbox tests ask the workload to try from inside. Each probe
// prints one line "<name>: <result>", the result "ok" or the error.
//
//	/probe        every probe
//	/dial?addr=   a TCP connection to addr
//
// With --probe the program prints the probes on stdout and exits (for a
// workload no one can reach, such as one with network none).

func probes() string {
	var b strings.Builder
	line := func(name string, err error) {
		if err == nil {
			fmt.Fprintf(&b, "%s: ok\n", name)
		} else {
			fmt.Fprintf(&b, "%s: %v\n", name, err)
		}
	}
	line("unshare-mount", syscall.Unshare(syscall.CLONE_NEWNS))
	line("unshare-user", syscall.Unshare(syscall.CLONE_NEWUSER))
	line("mount", syscall.Mount("none", "/tmp", "tmpfs", 0, ""))
	line("write-root", os.WriteFile("/probe-written", []byte("x"), 0o644))
	fmt.Fprintf(&b, "uid: %d\ngid: %d\n", os.Getuid(), os.Getgid())
	if s, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range strings.Split(string(s), "\n") {
			for _, k := range []string{"NoNewPrivs:", "Seccomp:", "CapEff:", "CapBnd:"} {
				if strings.HasPrefix(l, k) {
					fmt.Fprintf(&b, "%s %s\n", k, strings.TrimSpace(strings.TrimPrefix(l, k)))
				}
			}
		}
	}
	var names []string
	if ifs, err := net.Interfaces(); err == nil {
		for _, i := range ifs {
			names = append(names, i.Name)
		}
	}
	fmt.Fprintf(&b, "interfaces: %s\n", strings.Join(names, ","))
	return b.String()
}

func dial(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, err = io.ReadAll(io.LimitReader(c, 64))
	return err
}

func handleProbes() {
	http.HandleFunc("/probe", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, probes())
	})
	http.HandleFunc("/dial", func(w http.ResponseWriter, r *http.Request) {
		if err := dial(r.URL.Query().Get("addr")); err != nil {
			fmt.Fprintln(w, err)
			return
		}
		fmt.Fprintln(w, "ok")
	})
}
