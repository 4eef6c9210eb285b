package planner

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imageflight/imageflight/pkg/hdfsio"
	"github.com/imageflight/imageflight/pkg/model"
	"github.com/imageflight/imageflight/pkg/wire"
)

// TestModelCacheKeysOnTheOpenFile: a model planned again is not read
// again while its size and modification time stay; a new modification
// time reads the file again, and a file that went away is NotFound even
// with an entry in the cache.
func TestModelCacheKeysOnTheOpenFile(t *testing.T) {
	onnx, err := os.ReadFile("../model/testdata/convnet.onnx")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	name := filepath.Join(dir, "m.onnx")
	if err := os.WriteFile(name, onnx, 0o644); err != nil {
		t.Fatal(err)
	}
	loc, err := hdfsio.ParseLocation("file:" + filepath.ToSlash(name))
	if err != nil {
		t.Fatal(err)
	}
	mounts := &hdfsio.Mounts{Local: hdfsio.Local{}}
	var mc modelCache
	ctx := context.Background()
	first, err := mc.read(ctx, mounts, loc)
	if err != nil {
		t.Fatal(err)
	}
	if first.digest != model.Digest(onnx) || first.size != int64(len(onnx)) {
		t.Fatalf("facts %d %s, want %d %s", first.size, first.digest, len(onnx), model.Digest(onnx))
	}

	// Other bytes, same size, the old modification time: the cached facts
	// answer (the file is not read: these bytes are not even ONNX). This
	// is the staleness the cache accepts; workers refuse such bytes.
	fi, _ := os.Stat(name)
	garbage := []byte(strings.Repeat("x", len(onnx)))
	if err := os.WriteFile(name, garbage, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(name, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if again, err := mc.read(ctx, mounts, loc); err != nil || again.digest != first.digest || again.size != first.size {
		t.Fatalf("same size and time: %+v, %v; want the cached facts", again, err)
	}

	// A new modification time reads the file again.
	later := fi.ModTime().Add(time.Second)
	if err := os.Chtimes(name, later, later); err != nil {
		t.Fatal(err)
	}
	if _, err := mc.read(ctx, mounts, loc); wire.KindOf(err) != wire.KindInvalidArgument || !strings.Contains(err.Error(), "m.onnx") {
		t.Fatalf("after a rewrite: %v (kind %v), want InvalidArgument naming the model", err, wire.KindOf(err))
	}

	if err := os.Remove(name); err != nil {
		t.Fatal(err)
	}
	if _, err := mc.read(ctx, mounts, loc); wire.KindOf(err) != wire.KindNotFound {
		t.Fatalf("a removed model: %v (kind %v), want NotFound", err, wire.KindOf(err))
	}
}
