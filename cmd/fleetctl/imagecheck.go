package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gitfleet/gitfleet/fault"
	"github.com/gitfleet/gitfleet/image"
	"github.com/gitfleet/gitfleet/plan"
	"github.com/gitfleet/gitfleet/spec"
)

// imageCheckTimeout bounds the check of one image.
const imageCheckTimeout = time.Minute

// imageChecker verifies images for validate --check-images and plan, as
// fleetd does before a pull: the digest must exist at the source fleetd
// would pull from (mirrors first) and carry enough signatures by the keys
// the revision names, checked offline. Registry logins come from opts.
type imageChecker struct {
	opts image.Options
}

var _ plan.ImageVerifier = imageChecker{}

// errNoImageKeys: the revision names no image key, so no signature can be
// checked here (a node may still trust keys of its own trust dir).
var errNoImageKeys = errors.New("fleet.yaml spec.trust.images.keys names no key: nothing to check signatures against (keys in a node's trust dir are not known here)")

func (c imageChecker) VerifyImage(ctx context.Context, ref string, registries []spec.Registry, keys map[string][]byte, minSignatures int) (spec.ImageSource, error) {
	if len(keys) == 0 {
		return spec.ImageSource{}, fault.Refuse(ref, errNoImageKeys)
	}
	ks, err := image.ParsePublicKeys(keys)
	if err != nil {
		return spec.ImageSource{}, fault.Refuse(ref, fmt.Errorf("image keys: %w", err))
	}
	ctx, cancel := context.WithTimeout(ctx, imageCheckTimeout)
	defer cancel()
	opts := c.opts
	opts.Registries, opts.MinSignatures = registries, minSignatures
	res, err := image.Verify(ctx, ref, ks, opts)
	var re *image.RefusedError
	switch {
	case errors.As(err, &re):
		msg := re.Reason
		if len(re.Keys) > 0 {
			msg += " (keys tried: " + strings.Join(re.Keys, ", ") + ")"
		}
		return spec.ImageSource{}, fault.Refuse(ref, errors.New(msg))
	case errors.Is(err, image.ErrNotFound):
		// fleetd waits for a digest that may still be pushed; for a
		// pull request it is simply not there.
		return spec.ImageSource{}, fault.Refuse(ref, fmt.Errorf("the digest does not exist at its registry: %w", err))
	case err != nil:
		return spec.ImageSource{}, err
	}
	return res.Source, nil
}
