package plan

import (
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/imageflight/imageflight/pkg/memfs"
)

// treeFS is an in-memory filesystem over a fixed set of file paths (size 1 each); "|fifo"
// after a path makes it a named pipe.
func treeFS(paths ...string) *memfs.FS {
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
	return memfs.Generated(func(dir string) []fs.FileInfo {
		entries, ok := dirs[dir]
		if !ok {
			return nil
		}
		out := []fs.FileInfo{}
		for name, mode := range entries {
			out = append(out, &memfs.Info{N: name, S: 1, M: mode})
		}
		return out // unsorted on purpose: the walk must not rely on order
	})
}

// synthFS is a synthetic dataset of dirs×perDir files laid out as
// /bench/cls=NNNNN/img_NNNNNNN.jpg, generated per ReadDir with one
// allocation for the names and one for the infos.
func synthFS(dirs, perDir int) *memfs.FS {
	return memfs.Generated(func(dir string) []fs.FileInfo {
		if dir == "/bench" {
			infos := make([]memfs.Info, dirs)
			out := make([]fs.FileInfo, dirs)
			for i := range infos {
				infos[i] = memfs.Info{N: fmt.Sprintf("cls=%05d", i), M: fs.ModeDir | 0o755}
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
		infos := make([]memfs.Info, perDir)
		out := make([]fs.FileInfo, perDir)
		for i := range infos {
			start := len(buf)
			buf = append(buf, "img_"...)
			buf = appendPadded(buf, c*perDir+i, 7)
			buf = append(buf, ".jpg"...)
			infos[i] = memfs.Info{S: int64(50_000 + (c*perDir+i)%100_000), M: 0o644}
			infos[i].N = string(buf[start:]) // small; the walk copies it into its own path string
			out[i] = &infos[i]
		}
		return out
	})
}

func appendPadded(b []byte, v, width int) []byte {
	s := strconv.Itoa(v)
	for range width - len(s) {
		b = append(b, '0')
	}
	return append(b, s...)
}
