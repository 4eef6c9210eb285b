// Package peer dials other imageflight processes over Arrow Flight. One Pool
// per process caches a connection per location with that process's TLS and
// credential settings; the coordinator's health probes and cluster-status
// calls, a worker's split fetches and the Go client all go through one, so
// a call costs a connection only the first time. It also turns the gRPC
// status a peer answered back into a wire error kind.
package peer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/imageflight/imageflight/pkg/flightcodec"
	"github.com/imageflight/imageflight/pkg/wire"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// Config says how a Pool reaches its peers.
type Config struct {
	// TLS verifies grpc+tls:// locations (nil: the system roots).
	TLS *tls.Config
	// PerRPC attaches credentials to every call (a member's internal
	// token); nil attaches none.
	PerRPC credentials.PerRPCCredentials
	// MaxMessageBytes raises grpc's 4 MiB receive limit (0 keeps it): one
	// 1080p BGR image alone is 6.2 MB.
	MaxMessageBytes int
	// DialOptions are appended to the pool's own.
	DialOptions []grpc.DialOption
}

// readBufferBytes is how much a connection reads per syscall: DoGet
// streams arrive as megabytes of 16 KiB frames, and grpc-go's default (32
// KiB) costs a read per two frames (test/bench/README.md, "Transport
// ladder").
const readBufferBytes = 1 << 20

// TransportDialOptions are the gRPC transport sizes of a Pool's
// connections.
func TransportDialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithReadBufferSize(readBufferBytes)}
}

// Pool caches one Flight client per location; it is safe for concurrent
// use. Connections are lazy and reconnect by themselves (grpc), so an entry
// never needs replacing.
type Pool struct {
	cfg   Config
	mu    sync.Mutex
	conns map[string]aflight.Client
}

// New returns an empty pool.
func New(cfg Config) *Pool { return &Pool{cfg: cfg, conns: map[string]aflight.Client{}} }

// Address splits a Flight location into its gRPC dial target and whether
// it uses TLS. grpc://, grpc+tcp://, grpc+tls:// and grpc+unix:// (a Unix
// domain socket on this host: target unix:///path) are spoken.
func Address(location string) (addr string, useTLS bool, err error) {
	if a, ok := strings.CutPrefix(location, "grpc+tls://"); ok && a != "" {
		return a, true, nil
	}
	if path, ok := UnixPath(location); ok {
		return "unix://" + path, false, nil
	}
	for _, p := range []string{"grpc://", "grpc+tcp://"} {
		if a, ok := strings.CutPrefix(location, p); ok && a != "" {
			return a, false, nil
		}
	}
	return "", false, wire.Errorf(wire.KindInvalidArgument, "location %q: only grpc://, grpc+tcp://, grpc+tls:// and grpc+unix:// locations are supported", location)
}

// UnixPrefix starts a Unix domain socket location: grpc+unix:///abs/path.
const UnixPrefix = "grpc+unix://"

// UnixPath is the socket path of a grpc+unix:// location (an absolute
// path); ok is false for any other location.
func UnixPath(location string) (path string, ok bool) {
	path, ok = strings.CutPrefix(location, UnixPrefix)
	return path, ok && strings.HasPrefix(path, "/")
}

// Reachable orders an endpoint's locations for a client on this host: the
// grpc+unix:// locations whose socket exists here first (loopback TCP
// costs more CPU per byte than a Unix socket), then the network
// locations in their order. Unix locations whose socket is not here are
// left out: they name another host's socket.
func Reachable(locations []string) []string {
	var local, network []string
	for _, l := range locations {
		if path, ok := UnixPath(l); ok {
			if fi, err := os.Stat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
				local = append(local, l)
			}
			continue
		}
		network = append(network, l)
	}
	return append(local, network...)
}

// Client returns the pool's client for location, dialing it on first use.
func (p *Pool) Client(location string) (aflight.Client, error) {
	addr, useTLS, err := Address(location)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if fc, ok := p.conns[location]; ok {
		return fc, nil
	}
	creds := insecure.NewCredentials()
	if useTLS {
		cfg := p.cfg.TLS
		if cfg == nil {
			cfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		creds = credentials.NewTLS(cfg)
	}
	// flightcodec reads DoGet's FlightData with one copy of each body
	// instead of two; every other message decodes as usual.
	opts := append([]grpc.DialOption{grpc.WithTransportCredentials(creds), grpc.WithDefaultCallOptions(grpc.ForceCodecV2(flightcodec.Codec{}))},
		TransportDialOptions()...)
	if p.cfg.MaxMessageBytes > 0 {
		opts = append(opts, grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(p.cfg.MaxMessageBytes)))
	}
	if p.cfg.PerRPC != nil {
		opts = append(opts, grpc.WithPerRPCCredentials(p.cfg.PerRPC))
	}
	fc, err := aflight.NewClientWithMiddleware(addr, nil, nil, append(opts, p.cfg.DialOptions...)...)
	if err != nil {
		return nil, wire.Wrap(wire.KindUnavailable, err, "dial "+location)
	}
	p.conns[location] = fc
	return fc, nil
}

// Action runs a DoAction on location and returns its first result's body.
// Errors carry the kind the peer answered (FromStatus).
func (p *Pool) Action(ctx context.Context, location, action string, body []byte) ([]byte, error) {
	fc, err := p.Client(location)
	if err != nil {
		return nil, err
	}
	s, err := fc.DoAction(ctx, &aflight.Action{Type: action, Body: body})
	if err != nil {
		return nil, FromStatus(err, action+" on "+location)
	}
	r, err := s.Recv()
	if err != nil {
		return nil, FromStatus(err, action+" on "+location)
	}
	return r.GetBody(), nil
}

// Close closes every connection.
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for _, fc := range p.conns {
		errs = append(errs, fc.Close())
	}
	clear(p.conns)
	return errors.Join(errs...)
}

// kindCodes is the one mapping between error kinds and gRPC codes: the
// Flight edge answers a kind with Code (pkg/flight), and FromStatus reads a
// peer's answer back through its inverse; clients decide from the code
// whether another location may succeed (docs/protocol.md).
var kindCodes = map[wire.Kind]codes.Code{
	wire.KindInternal:          codes.Internal,
	wire.KindInvalidArgument:   codes.InvalidArgument,
	wire.KindNotFound:          codes.NotFound,
	wire.KindPermission:        codes.PermissionDenied,
	wire.KindUnavailable:       codes.Unavailable,
	wire.KindExpired:           codes.FailedPrecondition,
	wire.KindCanceled:          codes.Canceled,
	wire.KindDeadline:          codes.DeadlineExceeded,
	wire.KindUnimplemented:     codes.Unimplemented,
	wire.KindResourceExhausted: codes.ResourceExhausted,
}

// codeKinds is kindCodes inverted; Unauthenticated (the auth middleware's,
// not ours) reads as a permission problem.
var codeKinds = func() map[codes.Code]wire.Kind {
	m := map[codes.Code]wire.Kind{codes.Unauthenticated: wire.KindPermission}
	for k, c := range kindCodes {
		m[c] = k
	}
	return m
}()

// Code is the gRPC code a kind is answered with.
func Code(k wire.Kind) codes.Code { return kindCodes[k] }

// FromStatus turns an error a peer answered into a wire error of the same
// kind, its message prefixed with what was being done. A transport failure
// without a status (connection refused, reset) is unavailable.
func FromStatus(err error, what string) error {
	if err == nil {
		return nil
	}
	if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
		k, known := codeKinds[st.Code()]
		if !known {
			k = wire.KindUnavailable
		}
		return &wire.Error{Kind: k, Msg: fmt.Sprintf("%s: %s", what, st.Message()), Err: err}
	}
	return wire.Wrap(wire.AutoKind, err, what)
}
