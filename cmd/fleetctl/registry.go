package main

import (
	"github.com/spf13/pflag"

	"github.com/gitfleet/gitfleet/image"
)

// addRegistryConfigFlag defines --registry-config, the registry logins
// fleetctl reads images with.
func addRegistryConfigFlag(fs *pflag.FlagSet, file *string) {
	fs.StringVar(file, "registry-config", "", "registry logins in the Docker config.json format, as fleetd's --registry-config (default: the Docker config, ~/.docker/config.json)")
}

// registryOptions returns the options of registry reads: the logins in
// file when it is set, else the Docker config's.
func registryOptions(file string) (image.Options, error) {
	if file == "" {
		return image.Options{DockerConfig: true}, nil
	}
	creds, err := image.LoadCredentials(file, "", false)
	if err != nil {
		return image.Options{}, err
	}
	return image.Options{Credentials: creds}, nil
}
