// Command echo is the workload of the runtime tests: it prints its
// environment, then serves what it sees over HTTP on every interface of its network.
//
//	/args         its command line, one argument a line
//	/env          its environment, one variable a line
//	/read?path=   the file's content
//	/write?path=  writes "x" to the file (500 with the error when it cannot)
//
// and the sandbox probes of probe.go. --extra-port serves the same on a
// second port.
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	port := flag.Int("port", 8080, "port to serve on")
	extra := flag.Int("extra-port", 0, "a second port to serve on")
	probe := flag.Bool("probe", false, "print the probes and exit")
	flag.Parse()
	if *probe {
		fmt.Print(probes())
		return
	}
	handleProbes()
	fmt.Printf("echo starting: args=%q\n", os.Args)
	for _, e := range os.Environ() {
		fmt.Println("env", e)
	}
	http.HandleFunc("/args", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, strings.Join(os.Args, "\n"))
	})
	http.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, strings.Join(os.Environ(), "\n"))
	})
	http.HandleFunc("/read", func(w http.ResponseWriter, r *http.Request) {
		b, err := os.ReadFile(r.URL.Query().Get("path"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Write(b)
	})
	http.HandleFunc("/write", func(w http.ResponseWriter, r *http.Request) {
		if err := os.WriteFile(r.URL.Query().Get("path"), []byte("x"), 0o644); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		fmt.Println("echo: terminated")
		os.Exit(0)
	}()
	if *extra != 0 {
		go http.ListenAndServe(fmt.Sprintf(":%d", *extra), nil)
	}
	err := http.ListenAndServe(fmt.Sprintf(":%d", *port), nil)
	fmt.Println("echo:", err)
	os.Exit(1)
}
