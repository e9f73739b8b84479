package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// generateFleet builds a bare fleet repo at bare with the same files as
// env.generate, in time linear in the nodes: the node files go in as
// blobs first (git fast-import, which stores them as deltas of one
// another, as a real repository's pack would), the nodes/ tree is made by
// git mktree, and one commit puts it beside fleet.yaml, workloads/ and
// groups/ (fast-import's own tree building is quadratic in a folder's
// entries, minutes at 100,000 nodes). It returns the commit.
func generateFleet(bare string, nodes int) (string, error) {
	if out, err := gitCmd("", "init", "-q", "--bare", "-b", "main", bare).CombinedOutput(); err != nil {
		return "", fmt.Errorf("git init: %v: %s", err, out)
	}
	marks := filepath.Join(bare, "node-marks")
	defer os.Remove(marks)
	if err := fastImport(bare, []string{"--export-marks=" + marks}, func(w *bufio.Writer) {
		for i := 1; i <= nodes; i++ {
			data := nodeFile(i)
			fmt.Fprintf(w, "blob\nmark :%d\ndata %d\n%s\n", i, len(data), data)
		}
	}); err != nil {
		return "", err
	}
	b, err := os.ReadFile(marks)
	if err != nil {
		return "", err
	}
	var tree strings.Builder
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		mark, sha, ok := strings.Cut(line, " ")
		if !ok {
			return "", fmt.Errorf("marks line %q", line)
		}
		var i int
		if _, err := fmt.Sscanf(mark, ":%d", &i); err != nil {
			return "", fmt.Errorf("marks line %q", line)
		}
		fmt.Fprintf(&tree, "100644 blob %s\tnode-%05d.yaml\n", sha, i)
	}
	mk := gitCmd(bare, "mktree")
	mk.Stdin = strings.NewReader(tree.String())
	out, err := mk.Output()
	if err != nil {
		return "", fmt.Errorf("git mktree: %v", err)
	}
	nodesTree := strings.TrimSpace(string(out))
	if err := fastImport(bare, nil, func(w *bufio.Writer) {
		file := func(path, content string) {
			fmt.Fprintf(w, "M 644 inline %s\ndata %d\n%s\n", path, len(content), content)
		}
		msg := "generated fleet"
		fmt.Fprintf(w, "commit refs/heads/main\ncommitter Bench <bench@gitfleet.invalid> 1700000000 +0000\ndata %d\n%s\n", len(msg), msg)
		file("fleet.yaml", fleetFile())
		for i := range fixtureWorkloads {
			file(fmt.Sprintf("workloads/model-%d.yaml", i), workloadFile(i))
		}
		for i := range fixtureGroups {
			file(fmt.Sprintf("groups/line-%c.yaml", 'a'+i), groupFile(i))
		}
		fmt.Fprintf(w, "M 040000 %s nodes\n", nodesTree)
	}); err != nil {
		return "", err
	}
	out, err = gitCmd(bare, "rev-parse", "refs/heads/main").Output()
	if err != nil {
		return "", fmt.Errorf("git rev-parse: %v", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// fastImport runs git fast-import in bare with what write writes.
func fastImport(bare string, args []string, write func(*bufio.Writer)) error {
	cmd := gitCmd(bare, append([]string{"fast-import", "--quiet"}, args...)...)
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	w := bufio.NewWriter(in)
	write(w)
	w.WriteString("done\n")
	if err := w.Flush(); err != nil {
		return err
	}
	in.Close()
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("git fast-import: %v: %s", err, stderr.String())
	}
	return nil
}

// The fixture's files, shared with env.generate.
func fleetFile() string {
	return "apiVersion: gitfleet.dev/v1alpha1\nkind: Fleet\nmetadata: {name: bench}\nspec:\n  pollInterval: 30s\n  hostPaths: [/var/lib/models]\n"
}

func workloadFile(i int) string {
	return fmt.Sprintf("apiVersion: gitfleet.dev/v1alpha1\nkind: Workload\nmetadata: {name: model-%d}\nspec:\n  image: registry.example.com/models/m%d@sha256:%064d\n  ports: [%d]\n  resources: {memory: 256Mi, cpu: \"0.5\"}\n",
		i, i, i, 8080+i)
}

func groupFile(i int) string {
	return fmt.Sprintf("apiVersion: gitfleet.dev/v1alpha1\nkind: Group\nmetadata: {name: line-%c}\nspec:\n  selector: {matchLabels: {line: %c}}\n  workloads: [model-%d]\n",
		'a'+i, 'a'+i, i)
}

func nodeFile(i int) string {
	return fmt.Sprintf("apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata:\n  name: node-%05d\n  labels: {site: plant-%d, line: %c}\n",
		i, i%7, 'a'+i%fixtureGroups)
}
