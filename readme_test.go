package jetpool_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The README's Go quick start builds and runs as it stands: the test lays
// it into the module through a build overlay, compiles it, runs it and
// compares its output with the result the README shows.
func TestREADMEQuickStartRuns(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	_, rest, found := strings.Cut(string(readme), "```go\n")
	require.True(t, found, "README has a Go block")
	code, _, found := strings.Cut(rest, "```")
	require.True(t, found)

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
