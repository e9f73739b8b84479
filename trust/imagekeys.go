package trust

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"sigs.k8s.io/yaml"
)

// fleetFile is the repo file whose spec.trust.images.keys names the image
// keys (under trust/) a revision trusts.
const fleetFile = "fleet.yaml"

// imageKeysField is that field, for messages.
const imageKeysField = fleetFile + " spec.trust.images.keys"

// trustState is what the rotation rule guards at a commit: its trust/
// tree (every key file's content) and the set of image keys fleet.yaml
// names. A commit whose parent's state differs changed the node's trust.
type trustState struct {
	tree plumbing.Hash // zero: no trust/ folder
	// images is fleet.yaml's spec.trust.images.keys, one per line, or
	// "unreadable <blob>" when fleet.yaml cannot be parsed (so any change
	// to an unreadable fleet.yaml counts as a change).
	images string
}

// stateOf returns c's trustState.
func stateOf(c *object.Commit) (trustState, error) {
	tt, err := trustTree(c)
	if err != nil {
		return trustState{}, err
	}
	images, err := imageKeyList(c)
	if err != nil {
		return trustState{}, err
	}
	return trustState{tree: tt, images: images}, nil
}

// changed says which part of the trust differs between a and b, for
// messages.
func (a trustState) changed(b trustState) string {
	switch {
	case a.tree != b.tree && a.images != b.images:
		return RepoTrustDir + "/ and " + imageKeysField
	case a.images != b.images:
		return imageKeysField
	}
	return RepoTrustDir + "/"
}

// imageKeyList reads fleet.yaml's spec.trust.images.keys at c.
func imageKeyList(c *object.Commit) (string, error) {
	f, err := c.File(fleetFile)
	if errors.Is(err, object.ErrFileNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("%s in %s: %w", fleetFile, short(c.Hash), err)
	}
	unreadable := "unreadable " + f.Hash.String()
	if f.Size > maxKeyFileSize {
		return unreadable, nil
	}
	r, err := f.Reader()
	if err != nil {
		return "", fmt.Errorf("%s in %s: %w", fleetFile, short(c.Hash), err)
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, maxKeyFileSize))
	if err != nil {
		return "", fmt.Errorf("%s in %s: %w", fleetFile, short(c.Hash), err)
	}
	var doc struct {
		Spec struct {
			Trust struct {
				Images struct {
					Keys []string `json:"keys"`
				} `json:"images"`
			} `json:"trust"`
		} `json:"spec"`
	}
	if yaml.Unmarshal(b, &doc) != nil {
		return unreadable, nil
	}
	return strings.Join(doc.Spec.Trust.Images.Keys, "\n"), nil
}
