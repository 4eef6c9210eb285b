package console

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/imageflight/imageflight/pkg/hdfsio"
	"github.com/imageflight/imageflight/pkg/memfs"
)

// hundredK is a generated folder of 100 classes × 1,000 files.
func hundredK() *memfs.FS {
	return memfs.Generated(func(dir string) []fs.FileInfo {
		switch {
		case dir == "/big":
			out := make([]fs.FileInfo, 100)
			for i := range out {
				out[i] = &memfs.Info{N: fmt.Sprintf("cls=c%03d", i), M: fs.ModeDir | 0o755}
			}
			return out
		case strings.HasPrefix(dir, "/big/cls="):
			out := make([]fs.FileInfo, 1000)
			for i := range out {
				out[i] = &memfs.Info{N: fmt.Sprintf("img_%04d.jpg", i), S: 20000, M: 0o644}
			}
			return out
		}
		return nil
	})
}

// counting counts what a scan costs the storage.
type counting struct {
	hdfsio.FileSystem
	entries, opens atomic.Int64
}

func (c *counting) ReadDir(ctx context.Context, name string) ([]fs.FileInfo, error) {
	infos, err := c.FileSystem.ReadDir(ctx, name)
	c.entries.Add(int64(len(infos)))
	return infos, err
}

func (c *counting) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	c.opens.Add(1)
	return c.FileSystem.Open(ctx, name)
}

// A scan of 100,000 files is bounded: it stops listing after MaxEntries,
// opens only the header sample, and says which classes it did not finish.
func TestScanBounded(t *testing.T) {
	fsys := &counting{FileSystem: hundredK()}
	cfg := DefaultScanConfig()
	s, err := Scan(context.Background(), fsys, hdfsio.Location{Scheme: "file", Path: "/big"}, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The listing reads whole folders: at most one folder beyond the bound.
	if n := fsys.entries.Load(); n > int64(cfg.MaxEntries)+1000 {
		t.Errorf("listed %d entries, bound %d (+ one folder)", n, cfg.MaxEntries)
	}
	if n := fsys.opens.Load(); n != int64(cfg.HeaderSample) {
		t.Errorf("opened %d files, want the header sample of %d", n, cfg.HeaderSample)
	}
	if !s.Truncated || s.Files != cfg.MaxEntries-100 {
		t.Errorf("truncated %v after %d files, want %d (the bound less the 100 folders)", s.Truncated, s.Files, cfg.MaxEntries-100)
	}
	// 19 folders complete, the 20th partly, 80 not reached.
	states := map[string]int{}
	for _, f := range s.Folders {
		states[f.Listing]++
	}
	if states[""] != 19 || states["partly listed"] != 1 || states["not listed"] != 80 || s.Unlisted() != 81 {
		t.Errorf("folder states %v, unlisted %d", states, s.Unlisted())
	}
	// Generated files read as empty: every sampled header is reported broken, with why.
	if len(s.Broken) != cfg.HeaderSample || !strings.Contains(s.Broken[0].Reason, "empty file") {
		t.Errorf("%d broken, first %+v", len(s.Broken), s.Broken[0])
	}
	classes, files := s.Sample(cfg)
	if len(classes) != cfg.ThumbClasses || len(files[0]) != cfg.ThumbsPerClass {
		t.Errorf("sample of %d classes, %d files in the first", len(classes), len(files[0]))
	}
}

// Samples depend on the seed, not on listing order.
func TestSampleSeeded(t *testing.T) {
	cfg := DefaultScanConfig()
	cfg.MaxEntries = 5000
	pick := func(seed int64) []string {
		cfg.Seed = seed
		s, err := Scan(context.Background(), hundredK(), hdfsio.Location{Scheme: "file", Path: "/big"}, cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, files := s.Sample(cfg)
		return files[0]
	}
	a, b, c := pick(1), pick(1), pick(2)
	if strings.Join(a, ",") != strings.Join(b, ",") || strings.Join(a, ",") == strings.Join(c, ",") {
		t.Errorf("seed 1 twice: %v, %v; seed 2: %v", a, b, c)
	}
}

func BenchmarkScan100k(b *testing.B) {
	fsys := hundredK()
	cfg := DefaultScanConfig()
	for b.Loop() {
		if _, err := Scan(context.Background(), fsys, hdfsio.Location{Scheme: "file", Path: "/big"}, cfg, nil); err != nil {
			b.Fatal(err)
		}
	}
}
