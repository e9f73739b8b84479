package reconciler

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// state is what survives an agent restart besides the containers' labels:
// the last revision applied in full, so that a restarted agent neither
// re-applies nor accepts a revision older than it.
type state struct {
	AppliedRevision string `json:"appliedRevision"`
}

func loadState(file string) (string, error) {
	if file == "" {
		return "", nil
	}
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read state: %w", err)
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return "", fmt.Errorf("read state %s: %w", file, err)
	}
	return s.AppliedRevision, nil
}

// saveState writes the file atomically (temp file, then rename).
func saveState(file, applied string) error {
	if file == "" {
		return nil
	}
	b, err := json.Marshal(state{AppliedRevision: applied})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err := os.Rename(tmp, file); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}
