package planner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/imageflight/imageflight/pkg/hdfsio"
	"github.com/imageflight/imageflight/pkg/plan"
	"github.com/imageflight/imageflight/pkg/schema"
	"github.com/imageflight/imageflight/pkg/wire"
)

// WorkerSet reports the workers a plan may use; pkg/server adapts gossip
// membership to it.
type WorkerSet interface {
	LiveWorkers() []WorkerInfo
}

// WorkerInfo is a live worker as the coordinator sees it.
type WorkerInfo struct {
	Name     string
	Location string // Flight URI, e.g. grpc://127.0.0.2:8816
	// Unix is the worker's grpc+unix:// location, usable only on its host
	// ("" when it serves none).
	Unix     string
	Host     string
	Capacity int
}

// CoordinatorConfig holds the planning side's tunables.
type CoordinatorConfig struct {
	// TicketTTL bounds how long a plan's tickets stay redeemable.
	TicketTTL time.Duration
	// SplitsPerSlot sets the default split count (numPartitions = -1):
	// this many splits per worker decode slot.
	SplitsPerSlot int
	// MaxLocations is how many workers each endpoint names.
	MaxLocations int
	// ListParallelism bounds concurrent directory listings of one plan.
	ListParallelism int
	// LocalityTimeout bounds the block-location lookups of one plan.
	LocalityTimeout time.Duration
	// MaxInfoBytes bounds the packed file lists in one FlightInfo. Larger
	// plans are kept on the coordinator and their tickets carry only a
	// reference.
	MaxInfoBytes int
	// PlanStoreBytes bounds the packed file lists of by-reference plans the
	// coordinator keeps; the oldest plans are evicted first.
	PlanStoreBytes int64
	// MaxConcurrentPlans bounds the plans (GetFlightInfo, GetSchema)
	// running at once, each from the start of its listing until its
	// FlightInfo is built and stored; more wait up to 30 s, then answer
	// ResourceExhausted.
	MaxConcurrentPlans int
}

// DefaultCoordinatorConfig returns the planning defaults.
func DefaultCoordinatorConfig() CoordinatorConfig {
	return CoordinatorConfig{
		// A day covers a training run's epochs over one plan; a restarted
		// job plans again anyway.
		TicketTTL: 24 * time.Hour,
		// Two splits per decode slot keep every core busy while the slowest
		// split finishes, and spread a lost worker's share over the others.
		SplitsPerSlot: 2,
		// Three locations survive two lost workers without planning again.
		MaxLocations: 3,
		// Directory listings are NameNode round trips: 16 in flight hide the
		// latency without flooding the NameNode.
		ListParallelism: 16,
		// Locality is an optimization: never let it hold a plan up for long.
		LocalityTimeout: 10 * time.Second,
		// Half of grpc's and pyarrow's default 4 MiB message limit, so a
		// FlightInfo with its schema and locations always fits.
		MaxInfoBytes: 2 << 20,
		// Packed lists cost ~15 bytes per file: 256 MiB holds dozens of
		// million-file plans.
		PlanStoreBytes: 256 << 20,
		// Eight plans keep 8×ListParallelism NameNode calls in flight and
		// bound planning memory to eight large trees at once.
		MaxConcurrentPlans: 8,
	}
}

// Validate reports the first tunable out of range.
func (c CoordinatorConfig) Validate() error {
	switch {
	case c.TicketTTL <= 0:
		return fmt.Errorf("coordinator: ticket TTL must be positive, got %s", c.TicketTTL)
	case c.SplitsPerSlot <= 0:
		return fmt.Errorf("coordinator: splits per slot must be positive, got %d", c.SplitsPerSlot)
	case c.MaxLocations <= 0:
		return fmt.Errorf("coordinator: max locations must be positive, got %d", c.MaxLocations)
	case c.ListParallelism <= 0:
		return fmt.Errorf("coordinator: list parallelism must be positive, got %d", c.ListParallelism)
	case c.LocalityTimeout <= 0:
		return fmt.Errorf("coordinator: locality timeout must be positive, got %s", c.LocalityTimeout)
	case c.MaxInfoBytes <= 0:
		return fmt.Errorf("coordinator: max FlightInfo bytes must be positive, got %d", c.MaxInfoBytes)
	case c.PlanStoreBytes <= 0:
		return fmt.Errorf("coordinator: plan store bytes must be positive, got %d", c.PlanStoreBytes)
	case c.MaxConcurrentPlans <= 0:
		return fmt.Errorf("coordinator: max concurrent plans must be positive, got %d", c.MaxConcurrentPlans)
	}
	return nil
}

// CoordinatorDeps are what a coordinator is wired to.
type CoordinatorDeps struct {
	Roots   hdfsio.Roots // descriptors outside these are refused
	Secret  []byte       // signs tickets
	Mounts  *hdfsio.Mounts
	Workers WorkerSet
	// Locate finds replica hosts for HDFS files (nil: plan by balance only).
	Locate Locator
	// Self is this coordinator's Flight location, named in by-reference
	// tickets so workers can fetch split lists ("": plans always inline).
	Self   string
	Logger *slog.Logger
}

// Coordinator plans reads: GetFlightInfo, GetSchema and the split action.
type Coordinator struct {
	cfg    CoordinatorConfig
	deps   CoordinatorDeps
	signer *wire.Signer
	plans  *planStore
	log    *slog.Logger
	// confine tells whether a resolved local path lies under a root.
	confine func(realPath string) bool

	planSlots chan struct{} // MaxConcurrentPlans plans at once
	planWait  time.Duration // how long a plan waits for a slot
	recent    planLog       // the last plans, for the console
	models    modelCache    // the facts of models planned lately
}

// NewCoordinator returns a coordinator.
func NewCoordinator(cfg CoordinatorConfig, deps CoordinatorDeps) (*Coordinator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(deps.Secret) == 0 || deps.Workers == nil || deps.Mounts == nil {
		return nil, errors.New("coordinator: a secret, a worker set and mounts are required")
	}
	log := deps.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Coordinator{cfg: cfg, deps: deps, signer: wire.NewSigner(deps.Secret),
		plans: newPlanStore(cfg.PlanStoreBytes), log: log, confine: hdfsio.LocalConfine(deps.Roots),
		planSlots: make(chan struct{}, cfg.MaxConcurrentPlans), planWait: defaultPlanWait}, nil
}

// GetFlightInfo plans a read: validate, confine, list, sample, cut, assign,
// sign. Errors carry a wire kind.
func (c *Coordinator) GetFlightInfo(ctx context.Context, desc *aflight.FlightDescriptor) (info *aflight.FlightInfo, err error) {
	start := time.Now()
	var p *readPlan
	defer func() { c.recent.add(desc.GetCmd(), start, p, err) }()
	req, err := parseDescriptor(desc)
	if err != nil {
		return nil, err
	}
	// The slot covers the whole plan, not just its listing: cutting,
	// signing, packing and storing hold the listing's memory (and add
	// their own) until the FlightInfo is built.
	release, err := c.planSlot(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	pipe, err := req.Pipeline()
	if err != nil {
		return nil, err
	}
	pm, err := c.planModel(ctx, pipe)
	if err != nil {
		return nil, err
	}
	if p, err = c.Plan(ctx, req); err != nil {
		return nil, err
	}
	if err := pm.clash(wireColumns(p.columns)); err != nil {
		return nil, err
	}
	info, err = c.flightInfo(desc, req, pipe, p, pm)
	if err != nil {
		return nil, err
	}
	filesPlanned.Add(float64(p.files))
	c.log.Info("planned", "plan", p.id, "path", p.base, "files", p.files, "bytes", p.bytes,
		"splits", len(p.splits), "workers", len(p.workers), "by_reference", p.byRef, "took", time.Since(start).Round(time.Millisecond))
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
	dirs      []plan.PartitionDir // the listing's folders, indexed by File.Dir
	files     int
	bytes     int64
	byRef     bool
}

// Plan lists and cuts a request. The caller holds a plan slot (planSlot)
// until it is done with the plan.
func (c *Coordinator) Plan(ctx context.Context, req wire.Descriptor) (*readPlan, error) {
	workers := c.deps.Workers.LiveWorkers()
	if len(workers) == 0 {
		return nil, wire.Errorf(wire.KindUnavailable, "no live workers: start a worker that joins this coordinator's gossip address")
	}
	base, listing, err := c.list(ctx, req)
	if err != nil {
		return nil, err
	}
	pw := make([]plan.Worker, len(workers))
	for i, w := range workers {
		pw[i] = plan.Worker{Name: w.Name, Host: w.Host, Capacity: w.Capacity}
	}
	n := req.NumPartitions
	if n == -1 {
		n = plan.DefaultPartitions(pw, c.cfg.SplitsPerSlot)
	}
	p := &readPlan{id: newPlanID(), base: base, workers: workers, files: len(listing.Files), dirs: listing.Dirs}
	p.columns = listing.Columns()
	p.splits = plan.Cut(listing.Files, n)
	for _, f := range listing.Files {
		p.bytes += f.Size
	}
	p.locations = plan.Assign(p.splits, pw, c.locality(ctx, base, p.splits), c.cfg.MaxLocations)
	return p, nil
}

// parseDescriptor reads the JSON command of a descriptor.
func parseDescriptor(desc *aflight.FlightDescriptor) (wire.Descriptor, error) {
	if desc.GetType() != aflight.DescriptorCMD {
		return wire.Descriptor{}, wire.Errorf(wire.KindInvalidArgument, `descriptor must be a command: JSON like {"path": "/data/images"}`)
	}
	return wire.ParseDescriptor(desc.GetCmd())
}

// list confines and lists a request's paths with its selection keys
// (plan.Selector). The caller holds a plan slot.
func (c *Coordinator) list(ctx context.Context, req wire.Descriptor) (hdfsio.Location, plan.Listing, error) {
	sel := plan.Selector{Roots: c.deps.Roots, Mounts: c.deps.Mounts, Confine: c.confine, Parallelism: c.cfg.ListParallelism, Logger: c.log}
	return sel.Select(ctx, req)
}

// GetSchema answers the schema of a read — Spark's image struct plus the
// partition columns its listing implies — without planning splits.
func (c *Coordinator) GetSchema(ctx context.Context, desc *aflight.FlightDescriptor) (*aflight.SchemaResult, error) {
	req, err := parseDescriptor(desc)
	if err != nil {
		return nil, err
	}
	release, err := c.planSlot(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	_, listing, err := c.list(ctx, req)
	if err != nil {
		return nil, err
	}
	pipe, err := req.Pipeline()
	if err != nil {
		return nil, err
	}
	pm, err := c.planModel(ctx, pipe)
	if err != nil {
		return nil, err
	}
	cols := wireColumns(listing.Columns())
	if err := pm.clash(cols); err != nil {
		return nil, err
	}
	pipe.ModelPlan = pm.plan
	return &aflight.SchemaResult{Schema: aflight.SerializeSchema(schema.For(cols, pipe), memory.DefaultAllocator)}, nil
}

func newPlanID() string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return hex.EncodeToString(b[:])
}
