package wire

import (
	"os/exec"
	"strings"
	"testing"
)

// module is the import path prefix of this module's packages.
const module = "github.com/imageflight/imageflight"

// deps lists pkg's dependencies (itself included) with cgo on, each with
// whether it has cgo files.
func deps(t *testing.T, pkg string) map[string]bool {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{len .CgoFiles}}", pkg)
	cmd.Dir = "../.."
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=1") // what links C when it is on
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
	}
	m := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, cgo, _ := strings.Cut(line, " ")
		m[path] = cgo != "0"
	}
	return m
}

// within reports whether path is the module's package p ("/pkg/x") or
// one below it.
func within(path, p string) bool {
	return path == module+p || strings.HasPrefix(path, module+p+"/")
}

// TestContractHoldsNoPixelCode: the contract, planning and the Go client
// link no decoder and no pixel code, so that a program that only plans or
// only reads from a cluster builds without the decoders' C libraries.
func TestContractHoldsNoPixelCode(t *testing.T) {
	pixels := []string{"/pkg/imagerow", "/pkg/transform", "/pkg/schema", "/pkg/pipeline", "/pkg/flight", "/pkg/corpus"}
	for _, pkg := range []string{"./pkg/wire", "./pkg/stage", "./pkg/plan", "./pkg/client", "./pkg/peer"} {
		for path, cgo := range deps(t, pkg) {
			for _, p := range pixels {
				if within(path, p) {
					t.Errorf("%s depends on %s", pkg, path)
				}
			}
			if cgo && strings.HasPrefix(path, module+"/") {
				t.Errorf("%s depends on %s, which has cgo files", pkg, path)
			}
		}
	}
}

// TestDataFlowImportsOneWay: each step of the data flow imports only the
// steps before it — plan, then the coordinator's planner, then the
// worker's pipeline — and the Flight edge imports them, never the reverse.
func TestDataFlowImportsOneWay(t *testing.T) {
	later := map[string][]string{
		"./pkg/plan":     {"/pkg/planner", "/pkg/pipeline", "/pkg/flight", "/pkg/server"},
		"./pkg/planner":  {"/pkg/pipeline", "/pkg/flight", "/pkg/server"},
		"./pkg/pipeline": {"/pkg/planner", "/pkg/flight", "/pkg/server"},
		"./pkg/schema":   {"/pkg/plan", "/pkg/planner", "/pkg/pipeline", "/pkg/flight", "/pkg/server"},
	}
	for pkg, forbidden := range later {
		for path := range deps(t, pkg) {
			for _, p := range forbidden {
				if within(path, p) {
					t.Errorf("%s depends on %s", pkg, path)
				}
			}
		}
	}
}
