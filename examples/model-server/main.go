// Command model-server serves a logistic-regression model over HTTP. It is
// the workload gitfleet's demo and tests run on edge nodes.
//
//	model-server [--listen :8080] [--weights /model/weights.json]
//
// Endpoints: POST /predict, GET /healthz, GET /version. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// crashExitCode is the exit status after --crash-after.
const crashExitCode = 3

// readyFilePoll is how often --ready-file is looked for.
const readyFilePoll = 50 * time.Millisecond

// exitError carries a process exit status out of run.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stderr, os.Getenv, nil)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return
	}
	code := 1
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	fmt.Fprintln(os.Stderr, "model-server:", err)
	os.Exit(code)
}

type config struct {
	listen     string
	weights    string
	failHealth bool
	crashAfter time.Duration
	startDelay time.Duration
	readyFile  string
	logLevel   slog.Level
}

func parseConfig(args []string, stderr io.Writer, getenv func(string) string) (config, error) {
	var c config
	fs := flag.NewFlagSet("model-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.listen, "listen", ":8080", "address to listen on")
	fs.StringVar(&c.weights, "weights", "/model/weights.json", "model weights file (JSON)")
	fs.BoolVar(&c.failHealth, "fail-health", false, "make /healthz always answer 503 (for failure tests)")
	fs.DurationVar(&c.crashAfter, "crash-after", 0, "exit with status 3 after this long (for failure tests; 0: never)")
	fs.DurationVar(&c.startDelay, "start-delay", 0, "answer /healthz with 503 for this long after start (for failure tests)")
	fs.StringVar(&c.readyFile, "ready-file", "", "answer /healthz with 503 until this file exists (for slow-start tests)")
	if err := fs.Parse(args); err != nil {
		return c, &exitError{2, err}
	}
	if fs.NArg() > 0 {
		return c, &exitError{2, fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	if c.crashAfter < 0 || c.startDelay < 0 {
		return c, &exitError{2, errors.New("--crash-after and --start-delay must not be negative")}
	}
	if lvl := getenv("MODEL_LOG_LEVEL"); lvl != "" {
		if err := c.logLevel.UnmarshalText([]byte(lvl)); err != nil {
			return c, &exitError{2, fmt.Errorf("MODEL_LOG_LEVEL: %w", err)}
		}
	}
	return c, nil
}

// run serves until ctx is done, then shuts down gracefully. listening, if
// not nil, is called with the bound address once the server accepts
// connections.
func run(ctx context.Context, args []string, stderr io.Writer, getenv func(string) string, listening func(net.Addr)) error {
	c, err := parseConfig(args, stderr, getenv)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: c.logLevel}))

	model, err := LoadModel(c.weights)
	if err != nil {
		return fmt.Errorf("load model: %w", err)
	}
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return err
	}
	s := &server{log: log, failHealth: c.failHealth}
	srv := &http.Server{Handler: logRequests(log, s.handler()), ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String(), "model", model.Version,
		"features", strings.Join(model.Features, ","), "start_delay", c.startDelay)
	if listening != nil {
		listening(ln.Addr())
	}

	// The model is ready once the start delay has passed and the ready
	// file, if any, exists.
	ready := time.NewTimer(c.startDelay)
	defer ready.Stop()
	waiting := false
	var crash <-chan time.Time
	if c.crashAfter > 0 {
		t := time.NewTimer(c.crashAfter)
		defer t.Stop()
		crash = t.C
	}
	for {
		select {
		case <-ready.C:
			if _, err := os.Stat(c.readyFile); c.readyFile != "" && err != nil {
				if !waiting {
					log.Info("waiting for the ready file", "path", c.readyFile)
					waiting = true
				}
				ready.Reset(readyFilePoll)
				continue
			}
			s.model.Store(model)
			log.Info("model ready", "model", model.Version)
		case <-crash:
			srv.Close()
			return &exitError{crashExitCode, fmt.Errorf("crashing after --crash-after %v", c.crashAfter)}
		case err := <-serveErr:
			return err
		case <-ctx.Done():
			log.Info("shutting down")
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil {
				return fmt.Errorf("shutdown: %w", err)
			}
			return nil
		}
	}
}
