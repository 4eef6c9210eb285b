// Package memfs is an in-memory file system with the methods of
// hdfsio.FileSystem. Tests plan and stream against it without a disk or a
// network (the planner's and the worker's logic is tested this way), and
// benchmarks generate huge listings from it lazily, without holding them.
package memfs

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"time"
)

// Info describes one entry; Mode carries the type bits (fs.ModeDir,
// fs.ModeNamedPipe…).
type Info struct {
	N string
	S int64
	M fs.FileMode
}

func (i *Info) Name() string       { return i.N }
func (i *Info) Size() int64        { return i.S }
func (i *Info) Mode() fs.FileMode  { return i.M }
func (i *Info) ModTime() time.Time { return time.Time{} }
func (i *Info) IsDir() bool        { return i.M.IsDir() }
func (i *Info) Sys() any           { return nil }

// FS is an in-memory tree. Directories come from Gen, called per listing
// (nil: not a directory); file contents from the files given to New.
type FS struct {
	Gen func(dir string) []fs.FileInfo

	mu     sync.Mutex
	static bool // files holds every file (New)
	files  map[string][]byte
	opens  map[string]int
}

// New returns a tree holding files (absolute slash paths → contents);
// folders are implied by the paths.
func New(files map[string][]byte) *FS {
	dirs := map[string]map[string]*Info{"/": {}}
	for p, data := range files {
		child := &Info{N: path.Base(p), S: int64(len(data)), M: 0o644}
		for d := path.Dir(p); ; d = path.Dir(d) {
			if dirs[d] == nil {
				dirs[d] = map[string]*Info{}
			}
			if _, ok := dirs[d][child.N]; !ok {
				dirs[d][child.N] = child
			}
			if d == "/" {
				break
			}
			child = &Info{N: path.Base(d), M: fs.ModeDir | 0o755}
		}
	}
	return &FS{static: true, files: files, opens: map[string]int{}, Gen: func(dir string) []fs.FileInfo {
		entries, ok := dirs[dir]
		if !ok {
			return nil
		}
		out := make([]fs.FileInfo, 0, len(entries))
		for _, e := range entries {
			out = append(out, e)
		}
		slices.SortFunc(out, func(a, b fs.FileInfo) int { return strings.Compare(a.Name(), b.Name()) })
		return out
	}}
}

// Generated returns a tree whose folders gen makes on demand; its files
// read as empty.
func Generated(gen func(dir string) []fs.FileInfo) *FS {
	return &FS{Gen: gen, files: map[string][]byte{}, opens: map[string]int{}}
}

// Stat describes one file or folder.
func (f *FS) Stat(ctx context.Context, name string) (fs.FileInfo, error) {
	if f.Gen(name) != nil {
		return &Info{N: path.Base(name), M: fs.ModeDir | 0o755}, nil
	}
	if name != "/" {
		for _, fi := range f.Gen(path.Dir(name)) {
			if fi.Name() == path.Base(name) {
				return fi, nil
			}
		}
	}
	return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
}

// ReadDir lists one folder.
func (f *FS) ReadDir(ctx context.Context, name string) ([]fs.FileInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if infos := f.Gen(name); infos != nil {
		return infos, nil
	}
	return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
}

// Open opens a file; a file given to New reads its contents, a generated
// one reads as empty.
func (f *FS) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	data, ok := f.files[name]
	if !ok && (f.static || f.Gen(path.Dir(name)) == nil) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	f.opens[name]++
	return io.NopCloser(bytes.NewReader(data)), nil
}

// Remove deletes a file given to New (a file vanishing after planning).
func (f *FS) Remove(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.files, name)
}

// Opens is how often name was opened.
func (f *FS) Opens(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.opens[name]
}

// URI renders name as an origin.
func (f *FS) URI(name string) string { return fmt.Sprintf("mem:%s", name) }
