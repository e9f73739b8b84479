package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

// Output formats.
const (
	outText     = "text"
	outJSON     = "json"
	outMarkdown = "markdown"
	outGitHub   = "github"
)

// outputFlag is --output, restricted to the formats a command writes.
type outputFlag struct {
	value   string
	allowed []string
}

func (o *outputFlag) String() string { return o.value }
func (o *outputFlag) Type() string   { return "format" }
func (o *outputFlag) Set(v string) error {
	if !slices.Contains(o.allowed, v) {
		return fmt.Errorf("want one of %s", strings.Join(o.allowed, ", "))
	}
	o.value = v
	return nil
}

// addOutputFlag adds -o/--output with the given formats (the first is the
// default) and their shell completion.
func addOutputFlag(cmd *cobra.Command, formats ...string) *outputFlag {
	o := &outputFlag{value: formats[0], allowed: formats}
	cmd.Flags().VarP(o, "output", "o", "output format: "+strings.Join(formats, ", "))
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(formats, cobra.ShellCompDirectiveNoFileComp))
	return o
}

// writeJSON writes v indented, with a final newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
