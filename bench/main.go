// Command bench measures gitfleet against the numbers in DESIGN.md and
// writes bench/RESULTS.md (and the same tables to stdout).
//
//	go run ./bench [-n 5] [-nodes 10000] [-out bench/RESULTS.md] [-only "idle memory,…"]
//	go run ./bench -only fleetsim -agents 100,1000   # the fleet simulation alone
//
// Each measurement is a section (one file each): a function that returns
// a Markdown fragment. Add one by writing it and listing it in sections.
// With -only, just the named sections run and replace their own part of
// the existing results file (found by their heading); the rest stays.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"
)

// section measures one thing and returns its Markdown (a heading and a table).
type section func(ctx context.Context, e *env) (markdown string, err error)

// namedSection is a section and the name -only knows it by.
type namedSection struct {
	name string
	run  section
}

// sections run in this order.
var sections = []namedSection{
	{"no-op poll", noopPoll},
	{"poll paths", pollPaths},
	{"first sync", firstSync},
	{"agent start", agentStart},
	{"fleet tools", fleetTools},
	{"commit to running", commitToRunning},
	{"idle memory", idleMemory},
	{"self-healing", selfHealing},
	{"usb stick", usbSticks},
	{"fleetsim", fleetSim},
}

func main() {
	n := flag.Int("n", 5, "runs per measurement (the tables show medians)")
	nodes := flag.Int("nodes", 10000, "nodes in the generated fleet repo")
	out := flag.String("out", "bench/RESULTS.md", "where to write the results")
	only := flag.String("only", "", "comma-separated sections to run alone, replacing their part of -out (names: "+sectionNames()+")")
	cpuProfile := flag.String("cpuprofile", "", "write this process's CPU profile here (the fleetsim agents run in it)")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var err error
	if *only != "" {
		err = runOnly(ctx, *n, *nodes, *out, strings.Split(*only, ","))
	} else {
		err = run(ctx, *n, *nodes, *out)
	}
	if err != nil {
		pprof.StopCPUProfile()
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
	return os.WriteFile(out, []byte(b.String()+keptSections(out)), 0o644)
}

// runOnly runs the named sections and puts each in place of the part of
// the results file under the same heading (appended when there is none).
func runOnly(ctx context.Context, n, nodes int, out string, names []string) error {
	doc, err := os.ReadFile(out)
	if err != nil {
		return err
	}
	var run []section
	for _, name := range names {
		i := slices.IndexFunc(sections, func(s namedSection) bool { return s.name == strings.TrimSpace(name) })
		if i < 0 {
			return fmt.Errorf("no section %q (have %s)", name, sectionNames())
		}
		run = append(run, sections[i].run)
	}
	e, err := newEnv(n, nodes)
	if err != nil {
		return err
	}
	defer e.Close()
	text := string(doc)
	for i, s := range run {
		fmt.Fprintf(os.Stderr, "bench: %s…\n", names[i])
		md, err := s(ctx, e)
		if err != nil {
			return fmt.Errorf("%s: %w", names[i], err)
		}
		heading, body, _ := strings.Cut(md, "\n")
		md = heading + "\n\n" + fmt.Sprintf("_This section alone: %s, `%s`, %d runs where it repeats; the other sections are from the run named at the top._\n", time.Now().UTC().Format(time.RFC3339), command(), n) + body
		fmt.Print(md)
		text = replaceSection(text, heading, md)
	}
	return os.WriteFile(out, []byte(text), 0o644)
}

// replaceSection replaces the part of doc from the line heading to the
// next "## " heading with md, or appends md when doc has no such line.
func replaceSection(doc, heading, md string) string {
	start := strings.Index(doc, "\n"+heading+"\n")
	if start < 0 {
		return strings.TrimRight(doc, "\n") + "\n\n" + md
	}
	start++
	end := len(doc)
	if i := strings.Index(doc[start+len(heading):], "\n## "); i >= 0 {
		end = start + len(heading) + i + 1
	}
	return doc[:start] + strings.TrimRight(md, "\n") + "\n" + sep(end, len(doc)) + doc[end:]
}

func sep(end, n int) string {
	if end < n {
		return "\n"
	}
	return ""
}

func sectionNames() string {
	var names []string
	for _, s := range sections {
		names = append(names, strconv.Quote(s.name))
	}
	return strings.Join(names, ", ")
}

func command() string {
	args := []string{"go run ./bench"}
	flag.Visit(func(f *flag.Flag) {
		v := f.Value.String()
		if strings.ContainsAny(v, " \"'") {
			v = strconv.Quote(v)
		}
		args = append(args, "-"+f.Name+" "+v)
	})
	return strings.Join(args, " ")
}
