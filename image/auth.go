package image

import (
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// authenticator returns the credentials every read of repo uses: the one
// place registry credentials are decided. Anonymous unless
// opts.DockerConfig says to read the Docker config.
func (o Options) authenticator(repo name.Repository) (authn.Authenticator, error) {
	if !o.DockerConfig {
		return authn.Anonymous, nil
	}
	return authn.DefaultKeychain.Resolve(repo)
}
