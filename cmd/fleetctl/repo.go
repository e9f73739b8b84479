package main

import (
	"context"
	"time"

	"github.com/gitfleet/gitfleet/source"
)

// openTimeout bounds fetching a remote repository into memory.
const openTimeout = 5 * time.Minute

// openRepo opens --repo for validate, plan and verify: a local clone (a
// work tree, any folder inside one, or a bare repository) read in place,
// or a URL whose branches and tags, and those of revs that are full ref
// names (refs/pull/1/head), are fetched into memory. Credentials may be
// written into an http(s) URL; they are never printed.
func openRepo(ctx context.Context, repo string, revs ...string) (*source.Repo, error) {
	loc, err := source.ParseLocation(repo, source.Auth{})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	return source.Open(ctx, loc, source.OpenOptions{Refs: revs})
}
