package wire

import (
	"os/exec"
	"strings"
	"testing"
)

// TestContractHoldsNoPixelCode: the contract, planning and the Go client
// link no decoder and no pixel code, so that a program that only plans or
// only reads from a cluster builds without the decoders' C libraries.
func TestContractHoldsNoPixelCode(t *testing.T) {
	pixels := []string{"/pkg/imagerow", "/pkg/transform", "/pkg/flight", "/pkg/corpus"}
	for _, pkg := range []string{"./pkg/wire", "./pkg/stage", "./pkg/plan", "./pkg/client", "./pkg/peer"} {
		cmd := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{len .CgoFiles}}", pkg)
		cmd.Dir = "../.."
		cmd.Env = append(cmd.Environ(), "CGO_ENABLED=1") // what links C when it is on
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			path, cgo, _ := strings.Cut(line, " ")
			for _, p := range pixels {
				if strings.HasSuffix(path, "/imageflight"+p) || strings.Contains(path, "/imageflight"+p+"/") {
					t.Errorf("%s depends on %s", pkg, path)
				}
			}
			if cgo != "0" && strings.HasPrefix(path, "github.com/imageflight/") {
				t.Errorf("%s depends on %s, which has cgo files", pkg, path)
			}
		}
	}
}
