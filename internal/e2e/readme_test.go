package e2e_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetpool/jetpool/internal/proctest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The library guide's complete program builds and runs as it stands, and
// the README's quick start is part of it: the test lays the program into
// the module through a build overlay, compiles it, runs it and compares
// its output with the result both documents show.
func TestREADMEQuickStartRuns(t *testing.T) {
	t.Parallel()
	code := docBlock(t, "docs/library.md", "## A complete program", "go")
	quick := docBlock(t, "README.md", "## Quick start", "go")
	assert.Contains(t, code, quick, "the README's quick start is a part of the program in docs/library.md, verbatim")

	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	require.NoError(t, os.WriteFile(src, []byte(code), 0o600))
	wd := proctest.ModuleRoot(t)
	overlay, err := json.Marshal(map[string]map[string]string{
		"Replace": {filepath.Join(wd, "internal", "readmequickstart", "main.go"): src},
	})
	require.NoError(t, err)
	overlayFile := filepath.Join(dir, "overlay.json")
	require.NoError(t, os.WriteFile(overlayFile, overlay, 0o600))

	bin := filepath.Join(dir, "quickstart")
	cmd := exec.Command("go", "build", "-overlay", overlayFile, "-o", bin, "./internal/readmequickstart")
	cmd.Dir = wd
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
	doc, err := os.ReadFile(filepath.Join(proctest.ModuleRoot(t), file))
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
	t.Parallel()
	if testing.Short() {
		t.Skip("builds a module")
	}
	wd := proctest.ModuleRoot(t)
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
