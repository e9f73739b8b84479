// Command bench measures gitfleet against the numbers in DESIGN.md and
// writes bench/RESULTS.md (and the same tables to stdout).
//
//	go run ./bench [-n 5] [-nodes 10000] [-out bench/RESULTS.md]
//
// Each measurement is a section (one file each): a function that returns
// a Markdown fragment. Add one by writing it and listing it in sections.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"
)

// section measures one thing and returns its Markdown (a heading and a table).
type section func(ctx context.Context, e *env) (markdown string, err error)

// sections run in this order.
var sections = []struct {
	name string
	run  section
}{
	{"no-op poll", noopPoll},
	{"first sync", firstSync},
	{"commit to running", commitToRunning},
	{"self-healing", selfHealing},
}

func main() {
	if os.Getenv(childEnv) != "" {
		os.Exit(child())
	}
	n := flag.Int("n", 5, "runs per measurement (the tables show medians)")
	nodes := flag.Int("nodes", 10000, "nodes in the generated fleet repo")
	out := flag.String("out", "bench/RESULTS.md", "where to write the results")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *n, *nodes, *out); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, n, nodes int, out string) error {
	e, err := newEnv(n, nodes)
	if err != nil {
		return err
	}
	defer e.Close()

	var b strings.Builder
	b.WriteString("# gitfleet benchmarks\n\n")
	fmt.Fprintf(&b, "Generated %s by `%s`.\n\n", time.Now().UTC().Format(time.RFC3339), command())
	b.WriteString(machine())
	fmt.Fprintf(&b, "\nFixture: a generated fleet repo with %d nodes (`nodes/node-NNNNN.yaml`), %d workloads and %d groups, one commit, built with `git fast-import`; served on loopback by `git http-backend` (net/http/cgi) behind a byte-counting TCP proxy. Every figure is the median of %d runs.\n",
		nodes, fixtureWorkloads, fixtureGroups, n)
	for _, s := range sections {
		fmt.Fprintf(os.Stderr, "bench: %s…\n", s.name)
		md, err := s.run(ctx, e)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		b.WriteString("\n" + md)
	}
	fmt.Print(b.String())
	return os.WriteFile(out, []byte(b.String()), 0o644)
}

func command() string {
	args := []string{"go run ./bench"}
	flag.Visit(func(f *flag.Flag) { args = append(args, "-"+f.Name+" "+f.Value.String()) })
	return strings.Join(args, " ")
}
