// Package archtest checks that jetpool's imports run one way: the job model
// at the root, provisioning without nats-server, a config file loader that
// needs no runtime, a broker and handlers that lean only on the root, and
// producer imported only where enqueueing is the role.
package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/jetpool/jetpool"

// producerImporters are the packages that may import producer: the
// manager, the command and the benchmark.
var producerImporters = []string{
	module + "/internal/cli",
	module + "/internal/bench",
	module + "/manager",
}

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// list runs go list -deps -json on the module's packages.
func list(t *testing.T) map[string]pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", "-deps", module+"/...").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]pkg{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs[p.ImportPath] = p
	}
	return pkgs
}

func ours(path string) bool { return path == module || strings.HasPrefix(path, module+"/") }

func TestImportsRunOneWay(t *testing.T) {
	pkgs := list(t)
	get := func(path string) pkg {
		p, ok := pkgs[path]
		if !ok {
			t.Fatalf("package %s not found", path)
		}
		return p
	}
	for _, d := range get(module + "/topology").Deps {
		if strings.HasPrefix(d, "github.com/nats-io/nats-server") {
			t.Errorf("topology depends on %s: provisioning must not link the server", d)
		}
	}
	for _, imp := range get(module + "/config").Imports {
		if ours(imp) && imp != module {
			t.Errorf("config imports %s: it may import only the root", imp)
		}
	}
	for _, imp := range get(module).Imports {
		if ours(imp) {
			t.Errorf("the root imports %s: it may import nothing of ours", imp)
		}
	}
	// only checks that path imports nothing of ours but the root, the
	// packages in allowed and internal ones.
	only := func(path string, allowed ...string) {
		for _, imp := range get(path).Imports {
			if ours(imp) && imp != module && !slices.Contains(allowed, imp) && !strings.HasPrefix(imp, module+"/internal/") {
				t.Errorf("%s imports %s: it may import only the root%s and internal packages", path, imp, strings.Join(allowed, ", "))
			}
		}
	}
	only(module+"/broker", module+"/topology")
	only(module + "/handlers")
	for path, p := range pkgs {
		if !ours(path) || path == module+"/producer" || slices.Contains(producerImporters, path) {
			continue
		}
		if slices.Contains(p.Imports, module+"/producer") {
			t.Errorf("%s imports producer; only %v may", path, producerImporters)
		}
	}
}
