package plan

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/imageflight/imageflight/pkg/hdfsio"
)

// genFS is an in-memory filesystem whose directories are generated on
// demand by gen (nil: not a directory), so tests can describe huge or
// endless trees without holding them. It implements hdfsio.FileSystem.
type genFS struct {
	gen func(dir string) []fs.FileInfo
}

var _ hdfsio.FileSystem = genFS{}

// memInfo is a generated entry; mode carries the type bits.
type memInfo struct {
	name string
	size int64
	mode fs.FileMode
}

func (m *memInfo) Name() string       { return m.name }
func (m *memInfo) Size() int64        { return m.size }
func (m *memInfo) Mode() fs.FileMode  { return m.mode }
func (m *memInfo) ModTime() time.Time { return time.Time{} }
func (m *memInfo) IsDir() bool        { return m.mode.IsDir() }
func (m *memInfo) Sys() any           { return nil }

func (g genFS) Stat(ctx context.Context, name string) (fs.FileInfo, error) {
	if g.gen(name) != nil {
		return &memInfo{name: path.Base(name), mode: fs.ModeDir | 0o755}, nil
	}
	if name != "/" {
		for _, fi := range g.gen(path.Dir(name)) {
			if fi.Name() == path.Base(name) {
				return fi, nil
			}
		}
	}
	return nil, fmt.Errorf("stat %s: %w", name, fs.ErrNotExist)
}

func (g genFS) ReadDir(ctx context.Context, name string) ([]fs.FileInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if infos := g.gen(name); infos != nil {
		return infos, nil
	}
	return nil, fmt.Errorf("list %s: %w", name, fs.ErrNotExist)
}

func (g genFS) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader("")), nil
}

func (g genFS) URI(name string) string { return "mem:" + name }

// treeFS is a genFS over a fixed set of file paths (size 1 each); "|fifo"
// after a path makes it a named pipe.
func treeFS(paths ...string) genFS {
	dirs := map[string]map[string]fs.FileMode{"/": {}}
	for _, p := range paths {
		mode := fs.FileMode(0o644)
		if s, ok := strings.CutSuffix(p, "|fifo"); ok {
			p, mode = s, fs.ModeNamedPipe|0o644
		}
		for d, child := path.Dir(p), p; ; d, child = path.Dir(d), d {
			if dirs[d] == nil {
				dirs[d] = map[string]fs.FileMode{}
			}
			if _, ok := dirs[d][path.Base(child)]; !ok {
				dirs[d][path.Base(child)] = mode
			}
			mode = fs.ModeDir | 0o755
			if d == "/" {
				break
			}
		}
	}
	return genFS{gen: func(dir string) []fs.FileInfo {
		entries, ok := dirs[dir]
		if !ok {
			return nil
		}
		out := []fs.FileInfo{}
		for name, mode := range entries {
			out = append(out, &memInfo{name: name, size: 1, mode: mode})
		}
		return out // unsorted on purpose: the walk must not rely on order
	}}
}

// synthFS is a synthetic dataset of dirs×perDir files laid out as
// /bench/cls=NNNNN/img_NNNNNNN.jpg, generated per ReadDir with one
// allocation for the names and one for the infos.
func synthFS(dirs, perDir int) genFS {
	return genFS{gen: func(dir string) []fs.FileInfo {
		if dir == "/bench" {
			infos := make([]memInfo, dirs)
			out := make([]fs.FileInfo, dirs)
			for i := range infos {
				infos[i] = memInfo{name: fmt.Sprintf("cls=%05d", i), mode: fs.ModeDir | 0o755}
				out[i] = &infos[i]
			}
			return out
		}
		rest, ok := strings.CutPrefix(dir, "/bench/cls=")
		if !ok {
			return nil
		}
		c, err := strconv.Atoi(rest)
		if err != nil || c >= dirs {
			return nil
		}
		const nameLen = len("img_0000000.jpg")
		buf := make([]byte, 0, perDir*nameLen)
		infos := make([]memInfo, perDir)
		out := make([]fs.FileInfo, perDir)
		for i := range infos {
			start := len(buf)
			buf = append(buf, "img_"...)
			buf = appendPadded(buf, c*perDir+i, 7)
			buf = append(buf, ".jpg"...)
			infos[i] = memInfo{size: int64(50_000 + (c*perDir+i)%100_000), mode: 0o644}
			infos[i].name = string(buf[start:]) // small; the walk copies it into its own path string
			out[i] = &infos[i]
		}
		return out
	}}
}

func appendPadded(b []byte, v, width int) []byte {
	s := strconv.Itoa(v)
	for range width - len(s) {
		b = append(b, '0')
	}
	return append(b, s...)
}
