package server

import (
	"context"
	"net"
	"sync"
	"time"
)

// leaveTimeout bounds leaving gossip at shutdown; the drain may already
// have used the whole drain timeout.
const leaveTimeout = 2 * time.Second

// hardStopGrace bounds how long handlers get to return once their
// connections were closed; the process exits after it regardless.
const hardStopGrace = 5 * time.Second

// connTracker is the Flight listener, remembering its open connections so
// that shutdown can close them when a graceful stop overruns the drain
// timeout: a client that stopped reading keeps its stream's Send blocked
// on flow control, and grpc's GracefulStop would wait for it forever.
// Closing a connection cancels its streams' contexts, which ends their
// handlers.
type connTracker struct {
	net.Listener
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

func trackConns(l net.Listener) *connTracker {
	return &connTracker{Listener: l, conns: map[net.Conn]struct{}{}}
}

func (l *connTracker) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		c.Close()
		return nil, net.ErrClosed
	}
	tc := &trackedConn{Conn: c, l: l}
	l.conns[tc] = struct{}{}
	return tc, nil
}

// closeAll closes every open connection and refuses new ones; it returns
// how many it closed.
func (l *connTracker) closeAll() int {
	l.mu.Lock()
	conns := l.conns
	l.conns, l.closed = map[net.Conn]struct{}{}, true
	l.mu.Unlock()
	for c := range conns {
		c.(*trackedConn).Conn.Close()
	}
	return len(conns)
}

type trackedConn struct {
	net.Conn
	l    *connTracker
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

// stopServing stops the Flight server gracefully while ctx allows, then
// hard: every connection is closed and handlers get hardStopGrace to
// return.
func (p *Process) stopServing(ctx context.Context) {
	done := make(chan struct{})
	go func() { p.srv.Shutdown(); close(done) }()
	select {
	case <-done:
		return
	case <-ctx.Done():
	}
	n := p.conns.closeAll()
	p.log.Warn("drain timeout passed with streams still open; stopped hard", "drain_timeout", p.cfg.DrainTimeout, "connections_closed", n)
	select {
	case <-done:
	case <-time.After(hardStopGrace):
		p.log.Warn("handlers still running after closing their connections; exiting anyway")
	}
}
