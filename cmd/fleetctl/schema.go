package main

import (
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gitfleet/gitfleet/spec"
)

// schemaID is the $id of the generated schema.
const schemaID = "https://gitfleet.dev/schemas/" + "v1alpha1/fleet.schema.json"

// kinds maps each kind to its Go type, in the order the schema lists them.
var kinds = []struct {
	name string
	typ  reflect.Type
}{
	{spec.KindFleet, reflect.TypeFor[spec.Fleet]()},
	{spec.KindWorkload, reflect.TypeFor[spec.Workload]()},
	{spec.KindGroup, reflect.TypeFor[spec.Group]()},
	{spec.KindNode, reflect.TypeFor[spec.Node]()},
}

func kindNames() []string {
	var out []string
	for _, k := range kinds {
		out = append(out, k.name)
	}
	return out
}

func newSchemaCmd() *cobra.Command {
	var kind string
	cmd := &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema (draft 2020-12) of the fleet-repo format",
		Long: `schema prints a JSON Schema (draft 2020-12) of the fleet-repo documents,
generated from gitfleet's Go types, so it always matches the fleetd that
printed it. Without --kind it accepts any document and picks the kind's
schema by its kind field (oneOf); with --kind it is the schema of one kind.

Editors with the YAML language server (VS Code's YAML extension, Neovim,
Helix…) read a schema named on a document's first line:

  # yaml-language-server: $schema=../fleet.schema.json

The schema catches unknown fields, wrong types and missing required fields.
Cross-file rules (a workload a group names exists, mounts below hostPaths,
images pinned by digest…) are fleetctl validate's.`,
		Example: `  fleetctl schema > fleet.schema.json
  fleetctl schema --kind Workload > workload.schema.json`,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			return runSchema(cmd.OutOrStdout(), kind)
		}),
	}
	cmd.Flags().StringVar(&kind, "kind", "", "one kind only: "+strings.Join(kindNames(), ", "))
	_ = cmd.RegisterFlagCompletionFunc("kind", cobra.FixedCompletions(kindNames(), cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func runSchema(w io.Writer, kind string) error {
	s, err := fleetSchema(kind)
	if err != nil {
		return err
	}
	return writeJSON(w, s)
}

// fleetSchema builds the schema of one kind, or of every kind ("").
func fleetSchema(kind string) (map[string]any, error) {
	g := &schemaGen{defs: map[string]any{}}
	var refs []any
	for _, k := range kinds {
		if kind != "" && kind != k.name {
			continue
		}
		ref := g.typeSchema(k.typ)
		def := g.defs[k.typ.Name()].(map[string]any)
		props := def["properties"].(map[string]any)
		props["apiVersion"] = map[string]any{"const": spec.APIVersion, "description": "the format's version"}
		props["kind"] = map[string]any{"const": k.name}
		refs = append(refs, ref)
	}
	if len(refs) == 0 {
		return nil, usageError("--kind %q: want one of %s", kind, strings.Join(kindNames(), ", "))
	}
	s := map[string]any{
		"$schema": "https://json-schema.org/draft/2020-12/schema",
		"$id":     schemaID,
		"$defs":   g.defs,
	}
	if len(refs) == 1 {
		s["title"] = "gitfleet " + kind
		for k, v := range refs[0].(map[string]any) {
			s[k] = v
		}
	} else {
		s["title"] = "gitfleet fleet-repo document"
		s["description"] = "fleet.yaml (Fleet), workloads/*.yaml (Workload), groups/*.yaml (Group) or nodes/*.yaml (Node); see docs/fleet-repo.md"
		s["oneOf"] = refs
	}
	return s, nil
}

// enums are the closed sets of values of string fields, by Type.field.
var enums = map[string][]string{
	"WorkloadSpec.restart": {spec.RestartAlways, spec.RestartOnFailure, spec.RestartNever},
	"Override.restart":     {spec.RestartAlways, spec.RestartOnFailure, spec.RestartNever},
	"CommitTrust.mode":     {spec.CommitModeHead, spec.CommitModeAll},
	"WorkloadSpec.network": {spec.NetworkIsolated, spec.NetworkNone, spec.NetworkHost},
	"Override.network":     {spec.NetworkIsolated, spec.NetworkNone, spec.NetworkHost},
}

// descriptions document fields for editors' hovers, by Type.field.
var descriptions = map[string]string{
	"FleetSpec.pollInterval":              "how often each fleetd asks for the branch head; default 30s, at least 1s",
	"FleetSpec.registries":                "per-registry settings: plain HTTP for lab registries, mirrors",
	"FleetSpec.hostPaths":                 "the only host directories a workload may mount (a mount's source must be one or below one)",
	"Registry.host":                       "host[:port], no scheme or path",
	"Registry.plainHTTP":                  "HTTP instead of HTTPS (loopback and lab registries)",
	"CommitTrust.mode":                    "head (default): the new head must be signed; all: every new commit",
	"StatusSettings.heartbeat":            "a status report is committed at least this often; default 1h",
	"WorkloadSpec.image":                  "pinned by digest: [host[:port]/]path[:tag]@sha256:<64 hex>",
	"Override.image":                      "pinned by digest: [host[:port]/]path[:tag]@sha256:<64 hex>",
	"WorkloadSpec.env":                    "environment; overrides merge into it key by key",
	"WorkloadSpec.ports":                  "ports the server listens on (host networking), 1-65535",
	"Mount.source":                        "absolute host path: one of fleet.yaml's hostPaths or below one",
	"Resources.memory":                    "bytes with an optional unit k M G T P E or Ki Mi Gi Ti Pi Ei: 256Mi, 1G",
	"Resources.cpu":                       "cores (\"0.5\", \"2\") or millicores (500m)",
	"Health.failureThreshold":             "failures in a row before the workload is unhealthy; default 3",
	"WorkloadSpec.restart":                "always (default), on-failure or never",
	"Override.restart":                    "always, on-failure or never",
	"Selector.matchLabels":                "every pair must be in the node's labels; empty matches every node",
	"GroupSpec.workloads":                 "names of workloads/<name>.yaml this group assigns",
	"GroupSpec.overrides":                 "per workload: fields that replace the workload's (env merges key by key)",
	"NodeSpec.workloads":                  "workloads no group gives this node",
	"NodeSpec.overrides":                  "per workload, applied after every group's",
	"ObjectMeta.name":                     "a DNS label; must equal the file name without .yaml (except fleet.yaml)",
	"WorkloadSpec.secrets":                "values the repo holds age-encrypted (fleetctl secret encrypt), given to the container as env or a file",
	"Override.secrets":                    "replaces the workload's secrets, e.g. with a value of the node's own",
	"Secret.file":                         "the age-encrypted file in this repo, e.g. secrets/db-password.age",
	"Secret.env":                          "the environment variable that holds the value (or give path)",
	"Secret.path":                         "absolute path of a read-only file in the container holding the value, e.g. /run/secrets/db (or give env)",
	"NodeSpec.ageRecipient":               "the node's age public key (age1…, fleetd --print-age-recipient): its secrets are encrypted to it",
	"NodeSpec.statusKey":                  "the node's status key, one SSH public key line (fleetd --print-status-key): rollout gates and fleetctl status trust only status reports signed with it",
	"WorkloadSpec.network":                "isolated (default): own network namespace, declared ports mapped; none: loopback only; host: the host's (fleet.yaml's sandbox.allowHostNetwork)",
	"WorkloadSpec.user":                   "uid[:gid] or name[:group] from the image's /etc/passwd; default the image's user",
	"WorkloadSpec.readOnlyRootFilesystem": "mount the image's root filesystem read-only",
	"Capabilities.add":                    "capabilities beyond the default set, without CAP_ (NET_RAW); each must be in fleet.yaml's sandbox.allowedCapabilities",
	"Capabilities.drop":                   "capabilities to drop from the default set, or ALL",
	"SandboxPolicy.allowedCapabilities":   "capabilities workloads may add beyond the default set, without CAP_",
	"SandboxPolicy.allowHostNetwork":      "let workloads ask for network: host",
}

// durationPattern matches Go duration strings ("30s", "1h30m", "1.5s").
const durationPattern = `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`

// mirrorPattern matches host[:port][/path] (spec.ParseMirror decides).
const mirrorPattern = `^[^/:@\s]+(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*$`

// schemaGen turns Go types into schemas, named struct types into $defs.
type schemaGen struct {
	defs map[string]any
}

func (g *schemaGen) typeSchema(t reflect.Type) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == reflect.TypeFor[spec.Duration]() {
		return map[string]any{"type": "string", "pattern": durationPattern, "description": "a Go duration such as 30s or 1h"}
	}
	if t == reflect.TypeFor[spec.Mirror]() {
		return map[string]any{"type": "string", "pattern": mirrorPattern,
			"description": "host[:port][/path], no scheme: the registry's repository R is read from host at path/R"}
	}
	switch t.Kind() {
	case reflect.String:
		// Scalars bound for strings keep their literal text (VERSION: 1.10).
		return map[string]any{"type": []string{"string", "number", "boolean"}}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int64, reflect.Int32:
		return map[string]any{"type": "integer"}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": g.typeSchema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.typeSchema(t.Elem())}
	case reflect.Struct:
		name := t.Name()
		if _, ok := g.defs[name]; !ok {
			g.defs[name] = nil // placeholder against recursion
			g.defs[name] = g.structSchema(t)
		}
		return map[string]any{"$ref": "#/$defs/" + name}
	}
	panic(fmt.Sprintf("fleetctl schema: no schema for %s", t))
}

// structSchema is an object of the struct's JSON fields (inlined embedded
// structs included); fields without omitempty are required; unknown
// fields are not allowed, as the parser is strict.
func (g *schemaGen) structSchema(t reflect.Type) map[string]any {
	props := map[string]any{}
	required := []string{}
	g.fields(t, t.Name(), props, &required)
	s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

func (g *schemaGen) fields(t reflect.Type, owner string, props map[string]any, required *[]string) {
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			g.fields(f.Type, owner, props, required)
			continue
		}
		if name == "" {
			name = f.Name
		}
		fs := g.typeSchema(f.Type)
		key := owner + "." + name
		if e, ok := enums[key]; ok {
			fs = map[string]any{"type": "string", "enum": e}
		}
		if d, ok := descriptions[key]; ok {
			if _, isRef := fs["$ref"]; isRef {
				fs = map[string]any{"allOf": []any{fs}}
			}
			fs["description"] = d
		}
		props[name] = fs
		if !strings.Contains(opts, "omitempty") {
			*required = append(*required, name)
		}
	}
}
