package hdfsio

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// Local is the FileSystem of the machine's own disk. Names are absolute
// slash paths; origins are "file:/abs/path" URIs as Spark writes them.
type Local struct{}

// Stat implements FileSystem.
func (Local) Stat(ctx context.Context, name string) (fs.FileInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	fi, err := os.Stat(filepath.FromSlash(name))
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", name, err)
	}
	return fi, nil
}

// ReadDir implements FileSystem.
func (Local) ReadDir(ctx context.Context, name string) ([]fs.FileInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(filepath.FromSlash(name))
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", name, err)
	}
	infos := make([]fs.FileInfo, 0, len(entries))
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			if os.IsNotExist(err) {
				continue // deleted while we listed: not part of this snapshot
			}
			return nil, fmt.Errorf("list %s: %w", name, err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			// Follow links like Hadoop's local filesystem does.
			if fi, err = os.Stat(filepath.Join(filepath.FromSlash(name), e.Name())); err != nil {
				continue
			}
		}
		infos = append(infos, fi)
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Name() < infos[j].Name() })
	return infos, nil
}

// Open implements FileSystem.
func (Local) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.FromSlash(name))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	return f, nil
}

// URI implements FileSystem.
func (Local) URI(name string) string { return "file:" + name }
