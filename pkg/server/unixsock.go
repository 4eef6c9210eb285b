package server

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// unixSocketMode lets the service's user and group connect: clients on the
// host join the group; others use TCP. Tickets and tokens are checked on
// this socket exactly as on TCP.
const unixSocketMode = 0o660

// maxUnixPath is sun_path's size on Linux less its terminating NUL.
const maxUnixPath = 107

// listenUnix listens on dir/name.sock for clients on this host. dir is
// created 0750 when missing and must not be writable by others (who could
// replace the socket with their own). A socket left by a process that died
// is replaced; one that still answers is refused.
func listenUnix(dir, name string) (net.Listener, string, error) {
	path := filepath.Join(dir, name+".sock")
	if len(path) > maxUnixPath {
		return nil, "", fmt.Errorf("unix socket %s: path longer than %d bytes; choose a shorter --unix-socket-dir", path, maxUnixPath)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, "", fmt.Errorf("unix socket folder %s: %w", dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, "", fmt.Errorf("unix socket folder %s: %w", dir, err)
	}
	if fi.Mode().Perm()&0o002 != 0 {
		return nil, "", fmt.Errorf("unix socket folder %s is writable by others (mode %04o): another user could replace the socket; use a folder of this service's own", dir, fi.Mode().Perm())
	}
	if err := removeStaleSocket(path); err != nil {
		return nil, "", err
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, "", fmt.Errorf("listen unix %s: %w", path, err)
	}
	if err := os.Chmod(path, unixSocketMode); err != nil {
		l.Close()
		return nil, "", fmt.Errorf("unix socket %s: %w", path, err)
	}
	return l, path, nil
}

// removeStaleSocket removes path if it is a socket nobody listens on.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("unix socket %s: %w", path, err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("unix socket %s: exists and is not a socket", path)
	}
	c, err := net.Dial("unix", path)
	if err == nil {
		c.Close()
		return fmt.Errorf("unix socket %s: another process serves it", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("unix socket %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remove stale unix socket %s: %w", path, err)
	}
	return nil
}

// mergedListener accepts from several listeners as one, so that one gRPC
// server (its services, middleware and drain) serves TCP and the Unix
// socket alike. Addr is the first listener's.
type mergedListener struct {
	ls    []net.Listener
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup
}

func mergeListeners(ls ...net.Listener) *mergedListener {
	m := &mergedListener{ls: ls, conns: make(chan net.Conn), done: make(chan struct{})}
	for _, l := range ls {
		m.wg.Add(1)
		go m.accept(l)
	}
	return m
}

func (m *mergedListener) accept(l net.Listener) {
	defer m.wg.Done()
	for {
		c, err := l.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			m.Close() // a listener that fails ends serving, as a single one would
			return
		}
		select {
		case m.conns <- c:
		case <-m.done:
			c.Close()
			return
		}
	}
}

func (m *mergedListener) Accept() (net.Conn, error) {
	select {
	case c := <-m.conns:
		return c, nil
	case <-m.done:
		return nil, net.ErrClosed
	}
}

// Close closes every listener (the Unix one removes its socket file).
func (m *mergedListener) Close() error {
	var errs []error
	m.once.Do(func() {
		close(m.done)
		for _, l := range m.ls {
			if err := l.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				errs = append(errs, err)
			}
		}
	})
	return errors.Join(errs...)
}

func (m *mergedListener) Addr() net.Addr { return m.ls[0].Addr() }
