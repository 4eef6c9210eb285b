// Package client reads images from an imageflight cluster in Go: it asks the
// coordinator for a plan, then pulls every endpoint from the workers in
// parallel, failing over to an endpoint's alternate locations and resuming
// where the lost stream stopped, so each split's rows arrive exactly once.
package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/imageflight/imageflight/pkg/peer"
	"github.com/imageflight/imageflight/pkg/wire"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Config configures a client.
type Config struct {
	Coordinator string // grpc://host:port or grpc+tls://host:port
	// Parallelism is how many endpoints are read at once.
	Parallelism int
	// StallTimeout fails over when a location sends nothing for this long
	// (a hung worker), 0 disables.
	StallTimeout time.Duration
	// MaxMessageBytes raises grpc's 4 MiB receive limit: one 1080p BGR
	// image alone is 6.2 MB.
	MaxMessageBytes int
	DialOptions     []grpc.DialOption

	// TLSRootCAs verifies the certificates of grpc+tls:// locations
	// (default: TLSCAFile, else the system roots).
	TLSRootCAs *x509.CertPool
	// TLSCAFile is a PEM bundle used when TLSRootCAs is nil.
	TLSCAFile string
	// TLSServerName overrides the name checked in server certificates
	// (default: each location's host).
	TLSServerName string

	// Username and Password authenticate once with the coordinator (Flight
	// basic-auth handshake); its bearer token goes with every call, to the
	// coordinator and to the workers, and is renewed when it expires.
	Username, Password string
	// Token is a bearer token obtained elsewhere, used instead of a
	// handshake.
	Token string
}

// DefaultConfig returns a client config for a coordinator address.
func DefaultConfig(coordinator string) Config {
	return Config{Coordinator: coordinator, Parallelism: 8, StallTimeout: time.Minute, MaxMessageBytes: 1 << 30}
}

// Client talks to one cluster; it is safe for concurrent use.
type Client struct {
	cfg Config

	poolOnce sync.Once
	pool     *peer.Pool
	poolErr  error

	authMu sync.Mutex
	token  string // bearer token; "" until authenticated
}

// New returns a client; connections open lazily.
func New(cfg Config) *Client {
	if cfg.Parallelism <= 0 {
		cfg.Parallelism = 8
	}
	return &Client{cfg: cfg, token: cfg.Token}
}

// Close closes every connection.
func (c *Client) Close() error {
	if c.pool == nil {
		return nil
	}
	return c.pool.Close()
}

// peers builds the connection pool on first use (reading TLSCAFile).
func (c *Client) peers() (*peer.Pool, error) {
	c.poolOnce.Do(func() {
		tc := &tls.Config{RootCAs: c.cfg.TLSRootCAs, ServerName: c.cfg.TLSServerName, MinVersion: tls.VersionTLS12}
		if tc.RootCAs == nil && c.cfg.TLSCAFile != "" {
			pem, err := os.ReadFile(c.cfg.TLSCAFile)
			if err != nil {
				c.poolErr = fmt.Errorf("TLS CA file: %w", err)
				return
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				c.poolErr = fmt.Errorf("TLS CA file %s: no PEM certificate", c.cfg.TLSCAFile)
				return
			}
		}
		c.pool = peer.New(peer.Config{TLS: tc, MaxMessageBytes: c.cfg.MaxMessageBytes, DialOptions: c.cfg.DialOptions})
	})
	return c.pool, c.poolErr
}

func (c *Client) conn(uri string) (aflight.Client, error) {
	pool, err := c.peers()
	if err != nil {
		return nil, err
	}
	_, useTLS, err := peer.Address(uri)
	if err != nil {
		return nil, err
	}
	if !useTLS && c.authenticating() && strings.HasPrefix(c.cfg.Coordinator, "grpc+tls://") {
		// A TLS coordinator naming a plaintext location: do not hand the
		// bearer token to the network in clear text.
		return nil, fmt.Errorf("location %q: refusing to send credentials over plaintext (the coordinator uses TLS)", uri)
	}
	return pool.Client(uri)
}

// Plan asks the coordinator for FlightInfo; cmd is the JSON descriptor.
func (c *Client) Plan(ctx context.Context, cmd []byte) (*aflight.FlightInfo, error) {
	fc, err := c.conn(c.cfg.Coordinator)
	if err != nil {
		return nil, err
	}
	var info *aflight.FlightInfo
	err = c.withAuth(ctx, func(ctx context.Context) (err error) {
		info, err = fc.GetFlightInfo(ctx, &aflight.FlightDescriptor{Type: aflight.DescriptorCMD, Cmd: cmd})
		return err
	})
	return info, err
}

// Schema asks the coordinator for the schema a read would have, without
// planning it.
func (c *Client) Schema(ctx context.Context, cmd []byte) (*arrow.Schema, error) {
	fc, err := c.conn(c.cfg.Coordinator)
	if err != nil {
		return nil, err
	}
	var res *aflight.SchemaResult
	err = c.withAuth(ctx, func(ctx context.Context) (err error) {
		res, err = fc.GetSchema(ctx, &aflight.FlightDescriptor{Type: aflight.DescriptorCMD, Cmd: cmd})
		return err
	})
	if err != nil {
		return nil, err
	}
	return aflight.DeserializeSchema(res.GetSchema(), memory.DefaultAllocator)
}

// Action runs a coordinator action (e.g. "cluster-status") and returns the
// body of its first result.
func (c *Client) Action(ctx context.Context, typ string, body []byte) ([]byte, error) {
	fc, err := c.conn(c.cfg.Coordinator)
	if err != nil {
		return nil, err
	}
	var out []byte
	err = c.withAuth(ctx, func(ctx context.Context) error {
		s, err := fc.DoAction(ctx, &aflight.Action{Type: typ, Body: body})
		if err != nil {
			return err
		}
		r, err := s.Recv()
		if err != nil {
			return err
		}
		out = r.GetBody()
		return nil
	})
	return out, err
}

// authenticating reports whether calls carry a bearer token.
func (c *Client) authenticating() bool { return c.cfg.Username != "" || c.cfg.Token != "" }

// bearer returns the token to send, handshaking with the coordinator first
// if needed; "" when the client does not authenticate.
func (c *Client) bearer(ctx context.Context) (string, error) {
	if !c.authenticating() {
		return "", nil
	}
	c.authMu.Lock()
	defer c.authMu.Unlock()
	if c.token != "" {
		return c.token, nil
	}
	fc, err := c.conn(c.cfg.Coordinator)
	if err != nil {
		return "", err
	}
	actx, err := fc.AuthenticateBasicToken(ctx, c.cfg.Username, c.cfg.Password)
	if err != nil {
		return "", fmt.Errorf("authenticate with %s as %q: %w", c.cfg.Coordinator, c.cfg.Username, err)
	}
	md, _ := metadata.FromOutgoingContext(actx)
	for _, v := range md.Get("authorization") {
		if scheme, tok, ok := strings.Cut(v, " "); ok && strings.EqualFold(scheme, "Bearer") && tok != "" {
			c.token = tok
			return tok, nil
		}
	}
	return "", fmt.Errorf("authenticate with %s: no bearer token in the answer", c.cfg.Coordinator)
}

// expire forgets a rejected token so the next call handshakes again; it
// reports whether a new handshake can help.
func (c *Client) expire(token string) bool {
	if c.cfg.Username == "" || token == "" {
		return false
	}
	c.authMu.Lock()
	defer c.authMu.Unlock()
	if c.token == token {
		c.token = ""
	}
	return true
}

// withAuth runs call with the bearer token attached, handshaking again
// once if the token was refused (expired).
func (c *Client) withAuth(ctx context.Context, call func(context.Context) error) error {
	for try := 0; ; try++ {
		tok, err := c.bearer(ctx)
		if err != nil {
			return err
		}
		cctx := ctx
		if tok != "" {
			cctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
		}
		err = call(cctx)
		var cb callbackError
		if try == 0 && status.Code(err) == codes.Unauthenticated && !errors.As(err, &cb) && c.expire(tok) {
			continue
		}
		return err
	}
}

// Batch is one record batch of an endpoint, valid only during the callback.
type Batch struct {
	Endpoint int
	Location string
	Record   arrow.RecordBatch
}

// Stats says what a read took.
type Stats struct {
	Failovers int // streams resumed on another location
}

// ReadAll reads every endpoint of info, up to Parallelism at once, calling
// fn for each batch (fn may be called concurrently for different endpoints,
// in order within one endpoint).
func (c *Client) ReadAll(ctx context.Context, info *aflight.FlightInfo, fn func(Batch) error) (Stats, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		stats    Stats
		firstErr error
		wg       sync.WaitGroup
		sem      = make(chan struct{}, c.cfg.Parallelism)
	)
	for i, ep := range info.GetEndpoint() {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func(i int, ep *aflight.FlightEndpoint) {
			defer func() { <-sem; wg.Done() }()
			fo, err := c.ReadEndpoint(ctx, i, ep, fn)
			mu.Lock()
			defer mu.Unlock()
			stats.Failovers += fo
			if err != nil && firstErr == nil {
				firstErr = err
				cancel()
			}
		}(i, ep)
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	return stats, firstErr
}

// ReadEndpoint reads one endpoint, trying its locations in order — the
// grpc+unix:// locations whose socket is on this host first, those of
// other hosts not at all (peer.Reachable). A stream that breaks resumes on
// the next location after the last batch received (the "next" cursor in
// app_metadata), so no row is lost or repeated. It returns how many times
// it failed over.
func (c *Client) ReadEndpoint(ctx context.Context, idx int, ep *aflight.FlightEndpoint, fn func(Batch) error) (int, error) {
	uris := make([]string, len(ep.GetLocation()))
	for i, l := range ep.GetLocation() {
		uris[i] = l.GetUri()
	}
	locs := peer.Reachable(uris)
	if len(locs) == 0 {
		return 0, fmt.Errorf("endpoint %d has no location reachable from this host (%d listed)", idx, len(uris))
	}
	next := 0
	var errs []error
	for attempt, uri := range locs {
		err := c.withAuth(ctx, func(ctx context.Context) error {
			return c.stream(ctx, idx, uri, ep.GetTicket().GetTicket(), &next, fn)
		})
		if err == nil {
			return attempt, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", uri, err))
		if !retryable(ctx, err, uri) {
			break
		}
	}
	return len(errs), fmt.Errorf("endpoint %d: every location failed: %w", idx, errors.Join(errs...))
}

// retryable tells failures another location may not share. Any failure at
// a Unix socket qualifies: a socket is a path, and whatever answers there
// (a dead worker's leftover, another cluster's worker) the network
// location of the same worker may still serve the ticket.
func retryable(ctx context.Context, err error, location string) bool {
	if ctx.Err() != nil {
		return false
	}
	var cbErr callbackError
	if errors.As(err, &cbErr) {
		return false
	}
	if _, unix := peer.UnixPath(location); unix {
		return true
	}
	switch status.Code(err) {
	case codes.InvalidArgument, codes.PermissionDenied, codes.NotFound, codes.FailedPrecondition, codes.Unauthenticated:
		return false
	}
	return true
}

// callbackError is the caller's own error from a batch callback: never
// retried elsewhere, and unwrapped for errors.Is.
type callbackError struct{ error }

func (e callbackError) Unwrap() error { return e.error }

func (c *Client) stream(ctx context.Context, idx int, uri string, ticket []byte, next *int, fn func(Batch) error) error {
	fc, err := c.conn(uri)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var watchdog *time.Timer
	if c.cfg.StallTimeout > 0 {
		watchdog = time.AfterFunc(c.cfg.StallTimeout, func() {
			cancel(status.Errorf(codes.DeadlineExceeded, "no data from %s for %s", uri, c.cfg.StallTimeout))
		})
		defer watchdog.Stop()
	}
	ticket = wire.ResumeTicket(ticket, *next)
	s, err := fc.DoGet(ctx, &aflight.Ticket{Ticket: ticket})
	if err != nil {
		return stallCause(ctx, err)
	}
	rdr, err := aflight.NewRecordReader(s)
	if err != nil {
		return stallCause(ctx, err)
	}
	defer rdr.Release()
	for rdr.Next() {
		if watchdog != nil {
			watchdog.Reset(c.cfg.StallTimeout)
		}
		meta, err := wire.ParseBatchMeta(rdr.LatestAppMetadata())
		if err != nil {
			return err
		}
		if err := fn(Batch{Endpoint: idx, Location: uri, Record: rdr.RecordBatch()}); err != nil {
			return callbackError{err}
		}
		*next = meta.Next
	}
	if err := rdr.Err(); err != nil {
		return stallCause(ctx, err)
	}
	return nil
}

// stallCause reports the watchdog's reason instead of a bare cancellation.
func stallCause(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && cause != ctx.Err() {
		return cause
	}
	return err
}
