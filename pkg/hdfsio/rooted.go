package hdfsio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"
)

// RootedLocal is the local disk seen through its served roots, for
// workers: every file is opened beneath an os.Root, so the kernel resolves
// the name under the root in one step and no symlink or ".." swapped in
// after planning can lead outside (a check-then-open would race), and only
// regular files are opened. Listing is Local's.
type RootedLocal struct {
	Local
	roots []rootedDir
}

type rootedDir struct {
	path string // slash path of the root, as configured
	root *os.Root
}

// NewRootedLocal opens the file roots among roots; Close releases them.
func NewRootedLocal(roots Roots) (*RootedLocal, error) {
	l := &RootedLocal{}
	for _, r := range roots {
		if r.Scheme != "file" {
			continue
		}
		root, err := os.OpenRoot(r.Path)
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("open root %s: %w", r.Path, err)
		}
		l.roots = append(l.roots, rootedDir{path: strings.TrimSuffix(r.Path, "/"), root: root})
	}
	return l, nil
}

// Open implements FileSystem: name must lie under a root, and is opened
// beneath it, non-blocking (a FIFO swapped in cannot hang the open), then
// checked to be a regular file on the open descriptor.
func (l *RootedLocal) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, r := range l.roots {
		rel, ok := strings.CutPrefix(name, r.path+"/")
		if !ok {
			continue
		}
		f, err := r.root.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("open %s: %w", name, err)
			}
			// Escaping the root (a link leading outside) and every other
			// refusal: fail closed, never retried. The root is not named:
			// name holds it already, and a row's failure reason (the name
			// cut to its base) must not reveal it.
			return nil, fmt.Errorf("open %s: refused beneath its served root: %w", name, &refusedError{err})
		}
		return regularOnly(f, name)
	}
	return nil, fmt.Errorf("open %s: %w", name, &refusedError{errors.New("outside every served root")})
}

// Close releases the roots.
func (l *RootedLocal) Close() error {
	var errs []error
	for _, r := range l.roots {
		errs = append(errs, r.root.Close())
	}
	return errors.Join(errs...)
}

// refusedError is an open refused for confinement; it counts as a
// permission problem (errors.Is fs.ErrPermission).
type refusedError struct{ err error }

func (e *refusedError) Error() string { return e.err.Error() }

func (e *refusedError) Unwrap() []error { return []error{e.err, fs.ErrPermission} }
