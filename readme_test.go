package jetpool_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The README's Go quick start builds as it stands: the test lays it into the
// module through a build overlay and compiles it.
func TestREADMEQuickStartBuilds(t *testing.T) {
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

	cmd := exec.Command("go", "build", "-overlay", overlayFile, "-o", filepath.Join(dir, "quickstart"), "./internal/readmequickstart")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "the README's quick start does not build:\n%s", out)
}
