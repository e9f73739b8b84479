package main

import (
	"fmt"
	"path/filepath"

	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/status"
	"github.com/gitfleet/gitfleet/trust"
)

// statusKeyFile is the node's status key in its state dir: an ed25519
// OpenSSH private key, made on first start.
func statusKeyFile(cfg *Config) string { return filepath.Join(cfg.StateDir, "status.key") }

// statusKeyComment names the key in its public line: fleetd@<node>.
func statusKeyComment(cfg *Config) string { return "fleetd@" + cfg.Node }

// loadStatusKey reads the node's status key, making it on first use.
func loadStatusKey(cfg *Config) (*trust.StatusKey, bool, error) {
	return trust.LoadOrCreateStatusKey(statusKeyFile(cfg), statusKeyComment(cfg))
}

// checkReport is the status writers' CheckReport: a report read from
// another node's ref is trusted only when its commit is signed by the
// status key enrolled for that node in the revision being applied.
func checkReport(statusKey string, r source.Report) status.Trust {
	fp, err := trust.VerifyReport(statusKey, r.Signature, r.Signed)
	if err != nil {
		return status.Trust{Reason: err.Error()}
	}
	return status.Trust{Trusted: true, Reason: fmt.Sprintf("signed by the enrolled status key %s", fp)}
}
