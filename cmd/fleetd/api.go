package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gitfleet/gitfleet/agentapi"
	"github.com/gitfleet/gitfleet/image"
	"github.com/gitfleet/gitfleet/reconciler"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/trust"
)

// localAPI wires the local API and SIGHUP into deps: both wake the loop
// through the returned channel, which also forwards every wake of other
// (a USB watcher; may be nil). A long-running agent with an address
// serves the API until ctx ends; an address it cannot listen on is logged
// and the agent runs without the API.
func localAPI(ctx context.Context, cfg *Config, once bool, deps *reconciler.Deps, other <-chan struct{}, log *slog.Logger) (<-chan struct{}, *agentapi.API) {
	wake := make(chan struct{}, 1)
	api := agentapi.New(wake)
	api.RefusalReason = refusalReason
	deps.Observer = api
	deps.Reporter = api.Reporter(deps.Reporter)
	if once {
		return wake, api
	}
	if other != nil {
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-other:
					api.Sync()
				}
			}
		}()
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				log.Info("SIGHUP: syncing now")
				api.Sync()
			}
		}
	}()
	if *cfg.Listen == "" {
		return wake, api
	}
	l, err := agentapi.Listen(*cfg.Listen)
	if err != nil {
		// The workloads matter more than the API: run without it.
		log.Error("local API off: cannot listen", "addr", *cfg.Listen, "err", err)
		return wake, api
	}
	srv := &http.Server{Handler: api.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("local API stopped", "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	log.Info("local API listening", "addr", l.Addr().String())
	return wake, api
}

// refusalReason names what a refused pass refused, for metrics: the
// revision's spec, its commit's signature, an image's signature, a
// workload that cannot start (rolled back), or something else (a setting
// of the agent, credentials).
func refusalReason(err error) string {
	var se *spec.Error
	var rb *reconciler.RollbackError
	switch {
	case errors.As(err, &se):
		return "spec"
	case errors.Is(err, trust.ErrRefused):
		return "commit"
	case errors.Is(err, image.ErrRefused):
		return "image"
	case errors.As(err, &rb):
		return "workload"
	}
	return "other"
}
