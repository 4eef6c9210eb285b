package plan

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Lister is what planning needs from a filesystem (hdfsio.FileSystem has it).
type Lister interface {
	Stat(ctx context.Context, name string) (fs.FileInfo, error)
	ReadDir(ctx context.Context, name string) ([]fs.FileInfo, error)
}

// File is one file chosen for reading.
type File struct {
	Path string // absolute path inside its filesystem
	Size int64
}

// ListOptions shape a listing.
type ListOptions struct {
	Recursive bool
	// Keep, when set, decides per file whether it is kept (sampling); it
	// runs during the walk so unsampled files are never held.
	Keep func(path string) bool
	// Parallelism bounds concurrent ReadDir calls.
	Parallelism int
	// Seen, when set, counts files as they are listed (kept or not), so a
	// caller can report progress on a long walk.
	Seen *atomic.Int64
}

// Hidden reports whether a directory entry is skipped the way Hadoop and
// Spark skip it: dot files, "_" files that are not key=value partition
// directories (e.g. _SUCCESS, _temporary) and in-flight "._COPYING_" copies.
func Hidden(name string) bool {
	return strings.HasPrefix(name, ".") ||
		(strings.HasPrefix(name, "_") && !strings.Contains(name, "=")) ||
		strings.HasSuffix(name, "._COPYING_")
}

// isPartitionDir reports whether a directory name is a key=value partition.
func isPartitionDir(name string) bool {
	i := strings.IndexByte(name, '=')
	return i > 0
}

// List returns the files under root (or root itself if it is a file), sorted
// by path. Without Recursive it reads the files directly under root plus
// those under key=value partition directories, as Spark's file index does;
// with Recursive it reads every file at any depth. A missing root is an
// error wrapping fs.ErrNotExist.
func List(ctx context.Context, fsys Lister, root string, opts ListOptions) ([]File, error) {
	fi, err := fsys.Stat(ctx, root)
	if err != nil {
		return nil, err
	}
	keep := opts.Keep
	if keep == nil {
		keep = func(string) bool { return true }
	}
	if !fi.IsDir() {
		if keep(root) {
			return []File{{Path: root, Size: fi.Size()}}, nil
		}
		return nil, nil
	}
	par := opts.Parallelism
	if par <= 0 {
		par = 16
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := walker{ctx: ctx, cancel: cancel, fsys: fsys, opts: opts, keep: keep, sem: make(chan struct{}, par)}
	w.wg.Add(1)
	w.walk(root)
	w.wg.Wait()
	if w.err != nil {
		return nil, w.err
	}
	sort.Slice(w.files, func(i, j int) bool { return w.files[i].Path < w.files[j].Path })
	return w.files, nil
}

type walker struct {
	ctx    context.Context
	cancel context.CancelFunc
	fsys   Lister
	opts   ListOptions
	keep   func(string) bool
	sem    chan struct{}
	wg     sync.WaitGroup

	mu    sync.Mutex
	files []File
	err   error
}

// walk lists dir and spawns a goroutine per subdirectory; sem bounds how
// many ReadDir calls are in flight, not how many goroutines wait.
func (w *walker) walk(dir string) {
	defer w.wg.Done()
	select {
	case w.sem <- struct{}{}:
	case <-w.ctx.Done():
		w.fail(w.ctx.Err())
		return
	}
	entries, err := w.fsys.ReadDir(w.ctx, dir)
	<-w.sem
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return // removed while we listed
		}
		w.fail(fmt.Errorf("list %s: %w", dir, err))
		return
	}
	var local []File
	for _, e := range entries {
		name := e.Name()
		if Hidden(name) {
			continue
		}
		p := path.Join(dir, name)
		if e.IsDir() {
			if w.opts.Recursive || isPartitionDir(name) {
				w.wg.Add(1)
				go w.walk(p)
			}
			continue
		}
		if w.keep(p) {
			local = append(local, File{Path: p, Size: e.Size()})
		}
	}
	if w.opts.Seen != nil {
		w.opts.Seen.Add(int64(len(entries)))
	}
	w.mu.Lock()
	w.files = append(w.files, local...)
	w.mu.Unlock()
}

func (w *walker) fail(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
		w.cancel()
	}
	w.mu.Unlock()
}
