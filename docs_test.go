package tasklife_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife/internal/lifecycle"
)

// TestREADMEDiagram keeps the README's state diagram identical to the one
// looplab/fsm renders from the lifecycle's declaration.
func TestREADMEDiagram(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	m := regexp.MustCompile("(?s)```mermaid\n(.*?)```").FindSubmatch(readme)
	require.NotNil(t, m, "README.md has a mermaid block")
	require.Equal(t, lifecycle.Mermaid(), string(m[1]),
		"README.md's diagram is stale; paste lifecycle.Mermaid() into it")
}

// TestCodeBlocksCompile holds every Go code block a reader copies from (the
// README's ```go blocks and the package docs' indented blocks) to a runnable
// example: each block's lines must appear, in order and contiguous, in an
// example function of some _test.go file, which go vet and go test compile.
func TestCodeBlocksCompile(t *testing.T) {
	t.Parallel()
	examples := exampleBodies(t)
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	blocks := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllSubmatch(readme, -1)
	require.NotEmpty(t, blocks)
	for _, b := range blocks {
		requireInExample(t, "README.md", string(b[1]), examples)
	}
	for _, path := range sourceFiles(t) {
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ParseComments|parser.PackageClauseOnly)
		require.NoError(t, err)
		if f.Doc == nil {
			continue
		}
		for _, block := range indentedBlocks(f.Doc.Text()) {
			if isGo(block) {
				requireInExample(t, path, block, examples)
			}
		}
	}
}

// exampleBodies returns every _test.go file that declares an Example, with
// each line's indentation removed.
func exampleBodies(t *testing.T) []string {
	var out []string
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil || !strings.Contains(string(src), "\nfunc Example") {
			return err
		}
		out = append(out, "\n"+dedent(string(src))+"\n")
		return nil
	})
	require.NoError(t, err)
	return out
}

// sourceFiles returns the module's non-test Go files, whose package docs
// a reader sees.
func sourceFiles(t *testing.T) []string {
	var files []string
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != "." || d.Name() == "testdata" || d.Name() == "benchmarks") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			files = append(files, path)
		}
		return nil
	})
	require.NoError(t, err)
	return files
}

// indentedBlocks returns the code blocks of a doc comment's text: runs of
// lines indented by a tab, as go doc renders them.
func indentedBlocks(doc string) []string {
	var blocks []string
	var cur []string
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, "\t") {
			cur = append(cur, line)
			continue
		}
		if len(cur) > 0 && strings.TrimSpace(line) != "" {
			blocks = append(blocks, strings.Join(cur, "\n"))
			cur = nil
		}
	}
	if len(cur) > 0 {
		blocks = append(blocks, strings.Join(cur, "\n"))
	}
	return blocks
}

// isGo reports whether a doc block is Go statements (rather than a shell
// session or a table).
func isGo(block string) bool {
	_, err := parser.ParseFile(token.NewFileSet(), "", "package p\nfunc _() {\n"+block+"\n}", 0)
	return err == nil
}

func requireInExample(t *testing.T, where, block string, examples []string) {
	t.Helper()
	want := "\n" + strings.TrimSpace(dedent(block)) + "\n"
	for _, e := range examples {
		if strings.Contains(e, want) {
			return
		}
	}
	t.Errorf("a code block in %s is in no example function, so nothing compiles it:\n%s", where, block)
}

// dedent trims every line's leading and trailing white space.
func dedent(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return strings.Join(lines, "\n")
}
