package flight

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/imageflight/imageflight/pkg/hdfsio"
	"github.com/imageflight/imageflight/pkg/plan"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// WorkerSet reports the workers a plan may use; membership.Member
// satisfies it through a small adapter in cmd.
type WorkerSet interface {
	LiveWorkers() []WorkerInfo
}

// WorkerInfo is a live worker as the coordinator sees it.
type WorkerInfo struct {
	Name     string
	Location string // Flight URI, e.g. grpc://127.0.0.2:8816
	Host     string
	Capacity int
}

// CoordinatorConfig configures the planning side.
type CoordinatorConfig struct {
	Roots  hdfsio.Roots // descriptors outside these are refused
	Secret []byte       // signs tickets
	// TicketTTL bounds how long a plan's tickets stay redeemable.
	TicketTTL time.Duration
	// SplitsPerSlot sets the default split count (numPartitions = -1):
	// this many splits per worker decode slot, so every core has work and
	// a lost worker's share spreads over the others.
	SplitsPerSlot int
	// MaxLocations is how many workers each endpoint names.
	MaxLocations int
	// ListParallelism bounds concurrent directory listings.
	ListParallelism int
	// Locate finds replica hosts for HDFS files (nil: no locality).
	Locate Locator
	// LocalityTimeout bounds the block-location lookups of one plan.
	LocalityTimeout time.Duration
	// MaxInfoBytes bounds the tickets in one FlightInfo (grpc's and
	// pyarrow's default message limit is 4 MiB). Larger plans are kept on
	// the coordinator and their tickets carry only a reference.
	MaxInfoBytes int
	// Self is this coordinator's Flight location, named in reference
	// tickets so workers can fetch split file lists.
	Self   string
	Logger *slog.Logger
}

// DefaultCoordinatorConfig returns sane planning defaults.
func DefaultCoordinatorConfig() CoordinatorConfig {
	return CoordinatorConfig{TicketTTL: 24 * time.Hour, SplitsPerSlot: 2, MaxLocations: 3, ListParallelism: 16,
		LocalityTimeout: 10 * time.Second, MaxInfoBytes: 2 << 20, Logger: slog.Default()}
}

// Coordinator answers GetFlightInfo.
type Coordinator struct {
	cfg     CoordinatorConfig
	mounts  *hdfsio.Mounts
	workers WorkerSet
	signer  *Signer
	plans   *planStore
	log     *slog.Logger
}

// NewCoordinator returns a coordinator planning over workers.
func NewCoordinator(cfg CoordinatorConfig, mounts *hdfsio.Mounts, workers WorkerSet) (*Coordinator, error) {
	if len(cfg.Roots) == 0 {
		return nil, errors.New("coordinator: at least one root is required")
	}
	if len(cfg.Secret) == 0 {
		return nil, errors.New("coordinator: a cluster secret is required to sign tickets")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Coordinator{cfg: cfg, mounts: mounts, workers: workers, signer: NewSigner(cfg.Secret),
		plans: newPlanStore(64), log: cfg.Logger}, nil
}

// GetFlightInfo plans a read: validate, confine, list, sample, cut, assign, sign.
func (c *Coordinator) GetFlightInfo(ctx context.Context, desc *aflight.FlightDescriptor) (info *aflight.FlightInfo, err error) {
	defer func() { plansTotal.WithLabelValues(status.Code(err).String()).Inc() }()
	req, err := parseDescriptor(desc)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	p, err := c.Plan(ctx, req)
	if err != nil {
		return nil, err
	}
	info, err = c.flightInfo(desc, req, p)
	if err != nil {
		return nil, err
	}
	filesPlanned.Add(float64(p.files))
	c.log.Info("planned", "plan", p.id, "path", p.base, "files", p.files, "bytes", p.bytes,
		"splits", len(p.splits), "workers", len(p.workers), "took", time.Since(start).Round(time.Millisecond))
	return info, nil
}

// readPlan is a planned read.
type readPlan struct {
	id        string
	base      hdfsio.Location
	columns   []plan.Column
	splits    []plan.Split
	workers   []WorkerInfo
	locations [][]int
	files     int
	bytes     int64
}

// Plan lists and cuts a request. Errors are gRPC statuses.
func (c *Coordinator) Plan(ctx context.Context, req plan.Request) (*readPlan, error) {
	workers := c.workers.LiveWorkers()
	if len(workers) == 0 {
		return nil, status.Error(codes.Unavailable, "no live workers: start a worker that joins this coordinator's gossip address")
	}
	base, files, err := c.list(ctx, req)
	if err != nil {
		return nil, err
	}
	n := req.NumPartitions
	if n == -1 {
		slots := 0
		for _, w := range workers {
			slots += max(w.Capacity, 1)
		}
		n = slots * max(c.cfg.SplitsPerSlot, 1)
	}
	p := &readPlan{id: newPlanID(), base: base, workers: workers, files: len(files)}
	p.columns = plan.Columns(base.Path, files)
	p.splits = plan.Cut(files, n)
	for _, f := range files {
		p.bytes += f.Size
	}
	pw := make([]plan.Worker, len(workers))
	for i, w := range workers {
		pw[i] = plan.Worker{Name: w.Name, Host: w.Host, Capacity: w.Capacity}
	}
	p.locations = plan.Assign(p.splits, pw, c.locality(ctx, base, p.splits), c.cfg.MaxLocations)
	return p, nil
}

// parseDescriptor reads the JSON command of a descriptor.
func parseDescriptor(desc *aflight.FlightDescriptor) (plan.Request, error) {
	if desc.GetType() != aflight.DescriptorCMD {
		return plan.Request{}, status.Error(codes.InvalidArgument, `descriptor must be a command: JSON like {"path": "/data/images"}`)
	}
	req, err := plan.ParseRequest(desc.GetCmd())
	if err != nil {
		return req, status.Error(codes.InvalidArgument, err.Error())
	}
	return req, nil
}

// list confines and lists a request's path. Errors are gRPC statuses.
func (c *Coordinator) list(ctx context.Context, req plan.Request) (hdfsio.Location, []plan.File, error) {
	base, err := hdfsio.ParseLocation(req.Path)
	if err != nil {
		return base, nil, status.Errorf(codes.InvalidArgument, "descriptor key %q: %v", "path", err)
	}
	if !c.cfg.Roots.Contains(base) {
		return base, nil, status.Errorf(codes.PermissionDenied, "%s is outside the served roots (%s)", base, c.rootList())
	}
	fsys, err := c.mounts.For(ctx, base)
	if err != nil {
		return base, nil, status.Errorf(codes.Unavailable, "%v", err)
	}
	var seen atomic.Int64
	stopProgress := c.logProgress(base, &seen)
	files, err := plan.List(ctx, fsys, base.Path, plan.ListOptions{
		Recursive:   req.Recursive,
		Parallelism: c.cfg.ListParallelism,
		Keep:        func(p string) bool { return plan.Sampled(req.Seed, p, req.SampleRatio) },
		Seen:        &seen,
	})
	stopProgress()
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return base, nil, status.Errorf(codes.NotFound, "%s does not exist", base)
	case errors.Is(err, fs.ErrPermission):
		return base, nil, status.Errorf(codes.PermissionDenied, "%s: %v", base, err)
	case ctx.Err() != nil:
		return base, nil, status.FromContextError(ctx.Err()).Err()
	case err != nil:
		return base, nil, status.Errorf(codes.Unavailable, "list %s: %v", base, err)
	}
	return base, files, nil
}

// GetSchema answers the schema of a read — Spark's image struct plus the
// partition columns its listing implies — without planning splits.
func (c *Coordinator) GetSchema(ctx context.Context, desc *aflight.FlightDescriptor) (*aflight.SchemaResult, error) {
	req, err := parseDescriptor(desc)
	if err != nil {
		return nil, err
	}
	base, files, err := c.list(ctx, req)
	if err != nil {
		return nil, err
	}
	return &aflight.SchemaResult{Schema: aflight.SerializeSchema(Schema(plan.Columns(base.Path, files)), memory.DefaultAllocator)}, nil
}

func (c *Coordinator) flightInfo(desc *aflight.FlightDescriptor, req plan.Request, p *readPlan) (*aflight.FlightInfo, error) {
	expires := time.Now().Add(c.cfg.TicketTTL).Unix()
	info := &aflight.FlightInfo{
		Schema:           aflight.SerializeSchema(Schema(p.columns), memory.DefaultAllocator),
		FlightDescriptor: desc,
		TotalRecords:     int64(p.files),
		TotalBytes:       -1,
		Ordered:          true,
	}
	if req.DropImageFailures {
		info.TotalRecords = -1 // unknown until decoded
	}
	files := make([][]TicketFile, len(p.splits))
	for i, s := range p.splits {
		files[i] = make([]TicketFile, len(s.Files))
		for j, f := range s.Files {
			files[i][j] = TicketFile{Rel: relPath(p.base.Path, f.Path), Size: f.Size}
		}
	}
	sign := func(byRef bool) ([][]byte, int, error) {
		wires, total := make([][]byte, len(files)), 0
		for i := range files {
			t := &Ticket{Plan: p.id, Split: i, Base: p.base.String(), Columns: p.columns, Drop: req.DropImageFailures, Expires: expires}
			if byRef {
				t.Coordinator, t.Count = c.cfg.Self, len(files[i])
			} else {
				t.Files = files[i]
			}
			wire, err := c.signer.Sign(t)
			if err != nil {
				return nil, 0, status.Errorf(codes.Internal, "sign ticket: %v", err)
			}
			wires[i], total = wire, total+len(wire)
		}
		return wires, total, nil
	}
	wires, total, err := sign(false)
	if err != nil {
		return nil, err
	}
	if total > c.cfg.MaxInfoBytes && c.cfg.Self != "" {
		c.plans.put(p.id, storedPlan{expires: time.Unix(expires, 0), splits: files})
		if wires, _, err = sign(true); err != nil {
			return nil, err
		}
		c.log.Info("plan too large for inline tickets; workers fetch split lists from the coordinator", "plan", p.id, "ticket_bytes", total)
	}
	for i, wire := range wires {
		ep := &aflight.FlightEndpoint{Ticket: &aflight.Ticket{Ticket: wire}}
		for _, wi := range p.locations[i] {
			ep.Location = append(ep.Location, &aflight.Location{Uri: p.workers[wi].Location})
		}
		info.Endpoint = append(info.Endpoint, ep)
	}
	return info, nil
}

// logProgress logs how many entries a long listing has seen, every few
// seconds, until the returned stop is called.
func (c *Coordinator) logProgress(base hdfsio.Location, seen *atomic.Int64) (stop func()) {
	done := make(chan struct{})
	go func() {
		start := time.Now()
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				c.log.Info("listing", "path", base, "entries", seen.Load(), "elapsed", time.Since(start).Round(time.Second))
			}
		}
	}()
	return func() { close(done) }
}

func relPath(base, p string) string {
	if p == base {
		return "."
	}
	return strings.TrimPrefix(p, strings.TrimSuffix(base, "/")+"/")
}

func (c *Coordinator) rootList() string {
	s := make([]string, len(c.cfg.Roots))
	for i, r := range c.cfg.Roots {
		s[i] = r.String()
	}
	return strings.Join(s, ", ")
}

func newPlanID() string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return hex.EncodeToString(b[:])
}
