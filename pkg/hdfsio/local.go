package hdfsio

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"syscall"
)

// Local is the FileSystem of the machine's own disk. Names are absolute
// slash paths; origins are "file:/abs/path" URIs as Spark writes them.
type Local struct{}

// LinkInfo is what Local.ReadDir returns for an entry that is a symbolic
// link. The embedded FileInfo describes the link's target (Local follows
// links as Hadoop's local filesystem does, so Mode and Sys are the
// target's); RealPath is where the link resolves, so a planner can refuse
// links that lead outside its roots without resolving every entry itself.
type LinkInfo struct {
	fs.FileInfo
	// Real is the resolved, slash-separated absolute path, or "" when the
	// link could not be resolved (treat that as outside: fail closed).
	Real string
}

// RealPath returns where the link resolves ("" if it did not resolve).
func (l LinkInfo) RealPath() string { return l.Real }

// Stat implements FileSystem. The mode is the target's (links followed),
// so callers can tell regular files from FIFOs and devices without
// opening them.
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

// RealPath resolves every symlink in name. The planner uses it once per
// listing, for the listing's root; ReadDir resolves links below it.
func (Local) RealPath(ctx context.Context, name string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	real, err := filepath.EvalSymlinks(filepath.FromSlash(name))
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", name, err)
	}
	return filepath.ToSlash(real), nil
}

// ReadDir implements FileSystem. Entries keep their type bits (FIFOs,
// devices and sockets are reported as such, never opened); symlinks are
// followed and come back as LinkInfo carrying their resolved path. Links
// are rare, so resolving only those costs little.
func (Local) ReadDir(ctx context.Context, name string) ([]fs.FileInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dir := filepath.FromSlash(name)
	entries, err := os.ReadDir(dir)
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
			// Follow links like Hadoop's local filesystem does; a dangling
			// link is not a file.
			full := filepath.Join(dir, e.Name())
			target, err := os.Stat(full)
			if err != nil {
				continue
			}
			link := LinkInfo{FileInfo: target}
			if real, err := filepath.EvalSymlinks(full); err == nil {
				link.Real = filepath.ToSlash(real)
			}
			fi = link
		}
		infos = append(infos, fi)
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Name() < infos[j].Name() })
	return infos, nil
}

// Open implements FileSystem. Only regular files are opened: a FIFO would
// block open(2) until a writer appears and a device would be read to the
// size cap. The mode is checked before opening (opening some devices has
// side effects) and again on the open descriptor, which O_NONBLOCK keeps
// from hanging if the name was swapped for a FIFO in between.
func (Local) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	native := filepath.FromSlash(name)
	if fi, err := os.Stat(native); err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("open %s: %w", name, &notRegularError{mode: fi.Mode()})
	}
	f, err := os.OpenFile(native, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	return regularOnly(f, name)
}

// regularOnly returns f if the open descriptor is a regular file, and
// closes it otherwise: checking the descriptor, not the name, leaves no
// window for a swap.
func regularOnly(f *os.File, name string) (io.ReadCloser, error) {
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("open %s: %w", name, &notRegularError{mode: fi.Mode()})
	}
	return f, nil
}

// notRegularError refuses a non-regular file. It counts as a permission
// problem (errors.Is fs.ErrPermission), so callers do not retry it.
type notRegularError struct{ mode fs.FileMode }

func (e *notRegularError) Error() string {
	return fmt.Sprintf("not a regular file (mode %v)", e.mode.Type())
}

func (e *notRegularError) Unwrap() error { return fs.ErrPermission }

// URI implements FileSystem.
func (Local) URI(name string) string { return "file:" + name }

// LocalConfine returns a predicate that reports whether a resolved local
// path lies within one of the file roots (each root resolved through its own
// symlinks once, here, as the worker does). It is what plan.ListOptions'
// Confine wants for a local listing.
func LocalConfine(roots Roots) func(realPath string) bool {
	var real []Location
	for _, r := range roots {
		if r.Scheme != "file" {
			continue
		}
		if p, err := filepath.EvalSymlinks(filepath.FromSlash(r.Path)); err == nil {
			r.Path = filepath.ToSlash(p)
		}
		real = append(real, r)
	}
	return func(p string) bool {
		return p != "" && Roots(real).Contains(Location{Scheme: "file", Path: p})
	}
}
