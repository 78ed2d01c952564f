package jetpool_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The library guide's complete program builds and runs as it stands, and
// the README's quick start is part of it: the test lays the program into
// the module through a build overlay, compiles it, runs it and compares
// its output with the result both documents show.
func TestREADMEQuickStartRuns(t *testing.T) {
	code := docBlock(t, "docs/library.md", "## A complete program", "go")
	quick := docBlock(t, "README.md", "## Quick start", "go")
	assert.Contains(t, code, quick, "the README's quick start is a part of the program in docs/library.md, verbatim")

	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	require.NoError(t, os.WriteFile(src, []byte(code), 0o600))
	wd, err := os.Getwd()
	require.NoError(t, err)
	overlay, err := json.Marshal(map[string]map[string]string{
		"Replace": {filepath.Join(wd, "internal", "readmequickstart", "main.go"): src},
	})
	require.NoError(t, err)
	overlayFile := filepath.Join(dir, "overlay.json")
	require.NoError(t, os.WriteFile(overlayFile, overlay, 0o600))

	bin := filepath.Join(dir, "quickstart")
	cmd := exec.Command("go", "build", "-overlay", overlayFile, "-o", bin, "./internal/readmequickstart")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "the README's quick start does not build:\n%s", out)

	_, want, found := strings.Cut(code, "fmt.Printf(")
	require.True(t, found)
	_, want, _ = strings.Cut(want, "// ")
	want, _, _ = strings.Cut(want, "\n")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run := exec.CommandContext(ctx, bin)
	var stdout, stderr strings.Builder
	run.Stdout, run.Stderr = &stdout, &stderr
	require.NoError(t, run.Run(), "the README's quick start failed or hung:\n%s", stderr.String())
	assert.Equal(t, want, strings.TrimSpace(stdout.String()), "stderr:\n%s", stderr.String())
}

// docBlock returns the first fenced block of kind after heading in file.
func docBlock(t *testing.T, file, heading, kind string) string {
	t.Helper()
	doc, err := os.ReadFile(file)
	require.NoError(t, err)
	_, rest, found := strings.Cut(string(doc), "\n"+heading+"\n")
	require.True(t, found, "%s has %q", file, heading)
	_, rest, found = strings.Cut(rest, "```"+kind+"\n")
	require.True(t, found)
	block, _, _ := strings.Cut(rest, "```")
	return block
}

// The library guide's way to use jetpool before it is published works: a
// new module, given its commands with the checkout's path, builds the
// complete program. Modules come from the cache or the module proxy.
func TestREADMEModuleSetUpBuilds(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module")
	}
	wd, err := os.Getwd()
	require.NoError(t, err)
	app := t.TempDir()
	// The module proxy as configured: go mod tidy needs the test
	// dependencies of jetpool's dependencies, which building jetpool never
	// downloads, so a fresh machine has them only from there.
	env := append(os.Environ(), "GOFLAGS=-mod=mod", "GOSUMDB=off", "GOWORK=off")
	goCmd := func(args ...string) {
		t.Helper()
		cmd := exec.Command("go", args...)
		cmd.Dir, cmd.Env = app, env
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "go %s:\n%s", strings.Join(args, " "), out)
	}
	goCmd("mod", "init", "example.com/myapp")
	quick := docBlock(t, "docs/library.md", "## A complete program", "go")
	require.NoError(t, os.WriteFile(filepath.Join(app, "main.go"), []byte(quick), 0o600))
	for _, line := range strings.Split(strings.TrimSpace(docBlock(t, "docs/library.md", "## Using jetpool from your module", "sh")), "\n") {
		args := strings.Fields(strings.ReplaceAll(line, "../jetpool", wd))
		require.Equal(t, "go", args[0], line)
		goCmd(args[1:]...)
	}
	goCmd("build", "-o", filepath.Join(app, "myapp"), ".")
}

// The library guide points to Example functions that exist, and does not
// claim that go doc shows them.
func TestREADMEExamplesExist(t *testing.T) {
	guide, err := os.ReadFile("docs/library.md")
	require.NoError(t, err)
	assert.NotContains(t, string(guide), "go doc -all", "go doc shows no examples")
	for file, names := range map[string][]string{
		"example_test.go":          {"ExampleHandlerFunc", "ExamplePermanent", "ExampleChain"},
		"consumer/example_test.go": {"ExamplePool"},
		"producer/example_test.go": {"Example"},
	} {
		src, err := os.ReadFile(file)
		require.NoError(t, err)
		assert.Contains(t, string(guide), "(../"+file+")")
		for _, name := range names {
			assert.Contains(t, string(src), "func "+name+"() {", file)
			assert.Contains(t, string(src), "// Output:", file)
			assert.Contains(t, string(guide), "`"+name+"`")
		}
	}
}

// The operators' guide names every metric jetpool exports, and only those;
// the README points to it; no document speaks of "the seed".
func TestOperationsGuide(t *testing.T) {
	guide, err := os.ReadFile("docs/operations.md")
	require.NoError(t, err)
	metric := regexp.MustCompile(`jetpool_[a-z_]+[a-z]`)
	exported := map[string]bool{}
	files, err := filepath.Glob("metrics/*.go")
	require.NoError(t, err)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range regexp.MustCompile(`"(jetpool_[a-z_]+)"`).FindAllStringSubmatch(string(src), -1) {
			exported[m[1]] = true
		}
	}
	require.NotEmpty(t, exported)
	documented := map[string]bool{}
	for _, m := range metric.FindAllString(string(guide), -1) {
		if strings.HasPrefix(m, "jetpool_batches") || strings.HasPrefix(m, "jetpool_leases") || strings.HasPrefix(m, "jetpool_workers") || strings.HasPrefix(m, "jetpool_returns") {
			continue // bucket names
		}
		documented[m] = true
	}
	assert.Equal(t, exported, documented)

	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	assert.Contains(t, string(readme), "(docs/operations.md)")
	require.NoError(t, filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, "_test.go") ||
			!(strings.HasSuffix(path, ".go") || strings.HasSuffix(path, ".md")) {
			return err
		}
		text, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.NotContains(t, strings.ToLower(string(text)), "the seed's", path)
		return nil
	}))
}
