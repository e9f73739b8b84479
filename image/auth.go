package image

import (
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// authenticator returns the credentials every read of repo uses: the one
// place registry credentials are decided. opts.Credentials wins; else the
// Docker config if opts.DockerConfig says so; else anonymous.
func (o Options) authenticator(repo name.Repository) (authn.Authenticator, error) {
	if o.Credentials != nil {
		l, ok := o.Credentials.Login(repo.RegistryStr())
		if !ok {
			return authn.Anonymous, nil
		}
		return authn.FromConfig(authn.AuthConfig{
			Username: l.Username, Password: l.Password,
			IdentityToken: l.IdentityToken, RegistryToken: l.RegistryToken,
		}), nil
	}
	if !o.DockerConfig {
		return authn.Anonymous, nil
	}
	return authn.DefaultKeychain.Resolve(repo)
}

// transportFor returns the transport for requests to host: opts.Transport
// if set, else one with host's client certificate from opts.Credentials.
func (o Options) transportFor(host string) (http.RoundTripper, error) {
	if o.Transport != nil || o.Credentials == nil {
		return o.transport(), nil
	}
	return o.Credentials.transport(host)
}
