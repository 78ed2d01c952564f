package jetpool_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
