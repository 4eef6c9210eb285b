// Package client reads images from an imageflight cluster in Go: it asks the
// coordinator for a plan, then pulls every endpoint from the workers in
// parallel, failing over to an endpoint's alternate locations and resuming
// where the lost stream stopped, so each split's rows arrive exactly once.
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// Config configures a client.
type Config struct {
	Coordinator string // grpc://host:port
	// Parallelism is how many endpoints are read at once.
	Parallelism int
	// StallTimeout fails over when a location sends nothing for this long
	// (a hung worker), 0 disables.
	StallTimeout time.Duration
	// MaxMessageBytes raises grpc's 4 MiB receive limit: one 1080p BGR
	// image alone is 6.2 MB.
	MaxMessageBytes int
	DialOptions     []grpc.DialOption
}

// DefaultConfig returns a client config for a coordinator address.
func DefaultConfig(coordinator string) Config {
	return Config{Coordinator: coordinator, Parallelism: 8, StallTimeout: time.Minute, MaxMessageBytes: 1 << 30}
}

// Client talks to one cluster; it is safe for concurrent use.
type Client struct {
	cfg   Config
	mu    sync.Mutex
	conns map[string]aflight.Client
}

// New returns a client; connections open lazily.
func New(cfg Config) *Client {
	if cfg.Parallelism <= 0 {
		cfg.Parallelism = 8
	}
	return &Client{cfg: cfg, conns: map[string]aflight.Client{}}
}

// Close closes every connection.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, fc := range c.conns {
		errs = append(errs, fc.Close())
	}
	c.conns = map[string]aflight.Client{}
	return errors.Join(errs...)
}

func (c *Client) conn(uri string) (aflight.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if fc, ok := c.conns[uri]; ok {
		return fc, nil
	}
	addr, ok := strings.CutPrefix(uri, "grpc://")
	if !ok {
		addr, ok = strings.CutPrefix(uri, "grpc+tcp://")
	}
	if !ok {
		return nil, fmt.Errorf("location %q: only grpc:// locations are supported by this client", uri)
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if c.cfg.MaxMessageBytes > 0 {
		opts = append(opts, grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(c.cfg.MaxMessageBytes)))
	}
	opts = append(opts, c.cfg.DialOptions...)
	fc, err := aflight.NewClientWithMiddleware(addr, nil, nil, opts...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", uri, err)
	}
	c.conns[uri] = fc
	return fc, nil
}

// Plan asks the coordinator for FlightInfo; cmd is the JSON descriptor.
func (c *Client) Plan(ctx context.Context, cmd []byte) (*aflight.FlightInfo, error) {
	fc, err := c.conn(c.cfg.Coordinator)
	if err != nil {
		return nil, err
	}
	return fc.GetFlightInfo(ctx, &aflight.FlightDescriptor{Type: aflight.DescriptorCMD, Cmd: cmd})
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

// ReadEndpoint reads one endpoint, trying its locations in order. A stream
// that breaks resumes on the next location after the last batch received
// (the "next" cursor in app_metadata), so no row is lost or repeated.
// It returns how many times it failed over.
func (c *Client) ReadEndpoint(ctx context.Context, idx int, ep *aflight.FlightEndpoint, fn func(Batch) error) (int, error) {
	locs := ep.GetLocation()
	if len(locs) == 0 {
		return 0, fmt.Errorf("endpoint %d has no locations", idx)
	}
	next := 0
	var errs []error
	for attempt, loc := range locs {
		err := c.stream(ctx, idx, loc.GetUri(), ep.GetTicket().GetTicket(), &next, fn)
		if err == nil {
			return attempt, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", loc.GetUri(), err))
		if !retryable(ctx, err) {
			break
		}
	}
	return len(errs), fmt.Errorf("endpoint %d: every location failed: %w", idx, errors.Join(errs...))
}

// retryable tells failures another location may not share.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var cbErr callbackError
	if errors.As(err, &cbErr) {
		return false
	}
	switch status.Code(err) {
	case codes.InvalidArgument, codes.PermissionDenied, codes.NotFound, codes.FailedPrecondition, codes.Unauthenticated:
		return false
	}
	return true
}

type callbackError struct{ error }

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
	if *next > 0 {
		ticket = fmt.Appendf(append([]byte(nil), ticket...), ";skip=%d", *next)
	}
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
		var meta struct {
			Next int `json:"next"`
		}
		if err := json.Unmarshal(rdr.LatestAppMetadata(), &meta); err != nil {
			return fmt.Errorf("batch without resume cursor: %w", err)
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
