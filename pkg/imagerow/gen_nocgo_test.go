//go:build !cgo

package imagerow

import "testing"

func generateFixtures(t *testing.T) {
	t.Fatal("-update needs a cgo build (fixtures are encoded with libjpeg)")
}
