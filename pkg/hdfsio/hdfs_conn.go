package hdfsio

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"sync"
	"time"

	"github.com/colinmarc/hdfs/v2"
)

// client returns connection i, dialing it if needed.
func (h *HDFS) client(ctx context.Context, i int) (*hdfs.Client, error) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, fs.ErrClosed
	}
	if c := h.clients[i]; c != nil {
		h.mu.Unlock()
		return c, nil
	}
	h.mu.Unlock()
	var c *hdfs.Client
	err := h.doOn(ctx, func() error {
		var err error
		c, err = hdfs.NewClient(h.opts)
		if err != nil {
			return err
		}
		// colinmarc caches the server defaults in the Client without a lock
		// on first use (every read asks for them): fetch them now, before
		// the client is shared, so concurrent reads do not race.
		if _, err = c.ServerDefaults(); err != nil {
			c.Close()
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		c.Close()
		return nil, fs.ErrClosed
	}
	if old := h.clients[i]; old != nil { // lost a race: keep the first
		c.Close()
		return old, nil
	}
	h.clients[i] = c
	return c, nil
}

// do runs op on the next NameNode connection, honouring ctx.
func (h *HDFS) do(ctx context.Context, op func(*hdfs.Client) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	i := int(h.next.Add(1) % uint64(len(h.clients)))
	c, err := h.client(ctx, i)
	if err != nil {
		return err
	}
	return h.doOn(ctx, func() error { return op(c) })
}

// doOn runs fn, returning early with ctx's error if ctx ends first. fn is
// left to finish in the background: every colinmarc call is bounded by
// RPCTimeout, so it cannot leak for long.
func (h *HDFS) doOn(ctx context.Context, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if ctx.Done() == nil {
		return fn()
	}
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// dialer is the NameNode and DataNode dial function for cfg: cfg.Dial (or
// TCP with keep-alives) bounded by DialTimeout, its connections wrapped so
// that RPCTimeout of silence fails a call instead of hanging it.
func dialer(cfg HDFSConfig) func(ctx context.Context, network, addr string) (net.Conn, error) {
	dial := cfg.Dial
	if dial == nil {
		dial = (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		dctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
		defer cancel()
		c, err := dial(dctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &idleTimeoutConn{Conn: c, idle: cfg.RPCTimeout}, nil
	}
}

// idleTimeoutConn fails a Read or Write that sees no progress for idle, and
// closes the connection then, so a silent NameNode or DataNode gives an
// error instead of a hang (colinmarc/hdfs sets no deadline of its own on
// NameNode connections). Deadlines set by colinmarc still apply when
// earlier.
type idleTimeoutConn struct {
	net.Conn
	idle time.Duration

	mu            sync.Mutex
	readDeadline  time.Time
	writeDeadline time.Time
}

func (c *idleTimeoutConn) Read(b []byte) (int, error) {
	c.Conn.SetReadDeadline(c.deadline(&c.readDeadline))
	n, err := c.Conn.Read(b)
	return n, c.timedOut(err, "no answer from")
}

func (c *idleTimeoutConn) Write(b []byte) (int, error) {
	c.Conn.SetWriteDeadline(c.deadline(&c.writeDeadline))
	n, err := c.Conn.Write(b)
	return n, c.timedOut(err, "could not write to")
}

// deadline is the one to set before a Read or Write: idle from now, or the
// caller's (*set, guarded by mu) when that is earlier.
func (c *idleTimeoutConn) deadline(set *time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return earliest(*set, time.Now().Add(c.idle))
}

// timedOut turns a passed deadline into an error naming the peer and the
// wait, and closes the connection (see idleTimeoutConn); other errors pass
// as they are. what is the failure's wording, "no answer from" or the like.
func (c *idleTimeoutConn) timedOut(err error, what string) error {
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		c.Conn.Close()
		return fmt.Errorf("%s %s within %v: %w", what, c.RemoteAddr(), c.idle, err)
	}
	return err
}

func (c *idleTimeoutConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.readDeadline, c.writeDeadline = t, t
	c.mu.Unlock()
	return c.Conn.SetDeadline(t)
}

func (c *idleTimeoutConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.readDeadline = t
	c.mu.Unlock()
	return c.Conn.SetReadDeadline(t)
}

func (c *idleTimeoutConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.writeDeadline = t
	c.mu.Unlock()
	return c.Conn.SetWriteDeadline(t)
}

func earliest(user, idle time.Time) time.Time {
	if !user.IsZero() && user.Before(idle) {
		return user
	}
	return idle
}
