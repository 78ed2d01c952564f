package apicheck

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// updateEnv names the variable that rewrites the committed API files.
const updateEnv = "JETPOOL_API_UPDATE"

// TestPublicAPIUnchanged compares the exported API of every public package
// with its copy in api/. A deliberate change is recorded with
//
//	JETPOOL_API_UPDATE=1 go test ./internal/apicheck
//
// and the changed api/*.txt files are committed with it.
func TestPublicAPIUnchanged(t *testing.T) {
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	dirs := publicPackages(t, root)
	require.NotEmpty(t, dirs)
	update := os.Getenv(updateEnv) != ""
	apiDir := filepath.Join(root, "api")

	want := map[string]bool{}
	for _, dir := range dirs {
		file := apiFile(root, dir)
		want[filepath.Base(file)] = true
		got, err := Surface(dir)
		require.NoError(t, err)
		if update {
			require.NoError(t, os.MkdirAll(apiDir, 0o755))
			require.NoError(t, os.WriteFile(file, []byte(got), 0o644))
			continue
		}
		committed, err := os.ReadFile(file)
		if os.IsNotExist(err) {
			t.Errorf("%s is a public package with no api/%s: record its API with %s=1 go test ./internal/apicheck",
				rel(root, dir), filepath.Base(file), updateEnv)
			continue
		}
		require.NoError(t, err)
		if string(committed) != got {
			t.Errorf("the public API of %s changed; if that is deliberate, record it with %s=1 go test ./internal/apicheck and commit api/%s\n%s",
				rel(root, dir), updateEnv, filepath.Base(file), firstDifference(string(committed), got))
		}
	}
	entries, err := os.ReadDir(apiDir)
	require.NoError(t, err)
	for _, e := range entries {
		if !want[e.Name()] {
			if update {
				require.NoError(t, os.Remove(filepath.Join(apiDir, e.Name())))
				continue
			}
			t.Errorf("api/%s records a package that is no longer public: remove it", e.Name())
		}
	}
}

// publicPackages returns the directories of the module's importable,
// non-internal library packages.
func publicPackages(t *testing.T, root string) []string {
	var dirs []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if path != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") ||
			name == "testdata" || name == "internal" || name == "cmd" || name == "deploy" || name == "api") {
			return filepath.SkipDir
		}
		if hasLibraryCode(t, path) {
			dirs = append(dirs, path)
		}
		return nil
	})
	require.NoError(t, err)
	sort.Strings(dirs)
	return dirs
}

// hasLibraryCode reports whether dir holds a non-main package with code
// besides tests.
func hasLibraryCode(t *testing.T, dir string) bool {
	matches, err := filepath.Glob(filepath.Join(dir, "*.go"))
	require.NoError(t, err)
	for _, m := range matches {
		if strings.HasSuffix(m, "_test.go") {
			continue
		}
		src, err := os.ReadFile(m)
		require.NoError(t, err)
		return !strings.Contains(string(src), "\npackage main\n") && !strings.HasPrefix(string(src), "package main\n")
	}
	return false
}

// apiFile names the committed API file of a package directory: the path
// below the module root with "/" as "_", or "jetpool" for the root.
func apiFile(root, dir string) string {
	name := "jetpool"
	if r := rel(root, dir); r != "." {
		name = strings.ReplaceAll(r, "/", "_")
	}
	return filepath.Join(root, "api", name+".txt")
}

func rel(root, dir string) string {
	r, err := filepath.Rel(root, dir)
	if err != nil {
		return dir
	}
	return filepath.ToSlash(r)
}

// firstDifference shows the first line where two texts differ, with the
// line before it, so a failure says what changed without a diff tool.
func firstDifference(was, is string) string {
	a, b := strings.Split(was, "\n"), strings.Split(is, "\n")
	for i := 0; i < max(len(a), len(b)); i++ {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			ctx := ""
			if i > 0 && i-1 < len(a) {
				ctx = a[i-1]
			}
			return "line " + strconv.Itoa(i+1) + ":\n  " + ctx + "\n- " + x + "\n+ " + y
		}
	}
	return ""
}
