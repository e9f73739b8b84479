// Package yamlcorpus collects the repository's YAML documents for the
// differential tests and fuzz seeds of spec and status: every .yaml and
// .yml file, the YAML files of txtar archives, and the Go string literals
// of tests that hold an apiVersion or kind.
package yamlcorpus

import (
	"go/ast"
	goparser "go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/tools/txtar"
)

// Documents walks root (skipping .git and fuzz folders) and returns its
// YAML documents by where they are: a path, a path and archive member,
// or a Go literal's position.
func Documents(root string) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" || d.Name() == "fuzz" {
				return filepath.SkipDir
			}
			return nil
		}
		ext := filepath.Ext(path)
		if ext != ".yaml" && ext != ".yml" && ext != ".txtar" && !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		switch {
		case ext == ".txtar":
			for _, f := range txtar.Parse(data).Files {
				if e := filepath.Ext(f.Name); e == ".yaml" || e == ".yml" {
					out[path+":"+f.Name] = f.Data
				}
			}
		case ext == ".go":
			return literals(path, data, out)
		default:
			out[path] = data
		}
		return nil
	})
	return out, err
}

// literals adds the string literals of a Go file that hold an apiVersion
// or kind.
func literals(path string, data []byte, out map[string][]byte) error {
	fset := token.NewFileSet()
	file, err := goparser.ParseFile(fset, path, data, goparser.SkipObjectResolution)
	if err != nil {
		return err
	}
	ast.Inspect(file, func(n ast.Node) bool {
		if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
			s, err := strconv.Unquote(lit.Value)
			if err == nil && (strings.Contains(s, "apiVersion") || strings.Contains(s, "kind:")) {
				out[fset.Position(lit.Pos()).String()] = []byte(s)
			}
		}
		return true
	})
	return nil
}
