package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/imageflight/imageflight/pkg/hdfsio"
	"github.com/imageflight/imageflight/pkg/imagerow"
	"github.com/imageflight/imageflight/pkg/model"
	"github.com/imageflight/imageflight/pkg/schema"
	"github.com/imageflight/imageflight/pkg/wire"
)

// WorkerConfig holds the serving side's tunables.
type WorkerConfig struct {
	Decode imagerow.Options
	// BatchBytes caps a record batch's pixel bytes; a single larger image
	// still goes out, alone in its batch.
	BatchBytes int64
	// Parallelism bounds concurrent decodes across all streams of the
	// worker; each stream may hold twice as many decoded images waiting.
	Parallelism int
	// MaxStreams bounds the streams decoding at once; further DoGets wait
	// their turn. With Parallelism it bounds the worker's memory: per
	// stream a few batches of pixels (the pooled slab being decoded into,
	// the batch being sent, the one gRPC is still writing) plus
	// 2×Parallelism decoded images waiting.
	MaxStreams int
	// MaxFileBytes bounds how much of one file is read; a larger file
	// becomes an invalid row.
	MaxFileBytes int64
	// ReadRetries is how often a failed read is retried before the stream
	// fails with an error naming the file.
	ReadRetries int
	// MemoryBudget bounds, in bytes, the memory of images being read and
	// decoded, decoded images waiting and rows in unsent batches, across
	// all streams. A decode waits for its share; one image larger than the
	// whole budget goes alone.
	MemoryBudget int64
	// SendTimeout bounds how long a batch queued for the client may stay
	// unwritten, whatever the stream waits for meanwhile (the Flight
	// edge's send guard); a stream whose client stalls fails and frees its
	// slot and memory.
	SendTimeout time.Duration
	// Model holds the ONNX Runtime library, threads and session cache.
	Model model.Config
}

// DefaultWorkerConfig returns the serving defaults.
func DefaultWorkerConfig() WorkerConfig {
	cores := runtime.GOMAXPROCS(0)
	return WorkerConfig{
		// Spark's limits on image size, checked from headers before any
		// pixel memory is allocated.
		Decode: imagerow.DefaultOptions(),
		// 8 MiB batches amortize per-message costs yet stay well under
		// grpc's limits and clients' memory.
		BatchBytes: 8 << 20,
		// Decoding is CPU-bound: one decode per core.
		Parallelism: cores,
		// Four streams per decode slot keep slots busy while streams wait on
		// storage or slow clients.
		MaxStreams: 4 * cores,
		// No photo is 512 MiB encoded; a file that is would exhaust memory.
		MaxFileBytes: 512 << 20,
		// Two retries ride out a DataNode restart or a dropped connection.
		ReadRetries: 2,
		// Half the machine's (or cgroup's) memory, at least 256 MiB: the
		// rest is GC headroom, gRPC buffers and batch builders.
		MemoryBudget: DefaultMemoryBudget(),
		// A training loop that stops reading for a minute has stalled or
		// died; its slot and memory serve others better.
		SendTimeout: time.Minute,
		// Reasons in model.DefaultConfig.
		Model: model.DefaultConfig(),
	}
}

// Validate reports the first tunable out of range.
func (c WorkerConfig) Validate() error {
	switch {
	case c.BatchBytes <= 0:
		return fmt.Errorf("worker: batch bytes must be positive, got %d", c.BatchBytes)
	case c.Parallelism <= 0:
		return fmt.Errorf("worker: decoders must be positive, got %d", c.Parallelism)
	case c.MaxStreams <= 0:
		return fmt.Errorf("worker: max streams must be positive, got %d", c.MaxStreams)
	case c.MaxFileBytes <= 0:
		return fmt.Errorf("worker: max file bytes must be positive, got %d", c.MaxFileBytes)
	case c.ReadRetries < 0:
		return fmt.Errorf("worker: read retries must not be negative, got %d", c.ReadRetries)
	case c.Decode.MaxPixels <= 0:
		return fmt.Errorf("worker: max pixels must be positive, got %d", c.Decode.MaxPixels)
	case c.MemoryBudget <= 0:
		return fmt.Errorf("worker: memory budget must be positive, got %d", c.MemoryBudget)
	case c.SendTimeout <= 0:
		return fmt.Errorf("worker: send timeout must be positive, got %s", c.SendTimeout)
	}
	return c.Model.Validate()
}

// WorkerDeps are what a worker is wired to.
type WorkerDeps struct {
	Roots  hdfsio.Roots // only tickets for paths under these are served
	Secret []byte       // verifies the coordinator's ticket signatures
	// Mounts reads the files; its Local should be a hdfsio.RootedLocal
	// over Roots, so that reads stay beneath them.
	Mounts *hdfsio.Mounts
	// Peers fetches by-reference split lists from the coordinator.
	Peers  Caller
	Logger *slog.Logger
}

// Worker serves splits: verify, confine, read, decode, stream.
type Worker struct {
	cfg    WorkerConfig
	deps   WorkerDeps
	signer *wire.Signer
	log    *slog.Logger

	draining atomic.Bool
	inflight sync.WaitGroup
	active   atomic.Int64

	splitMu    sync.Mutex
	splitCache map[string]wire.SplitList

	decodeSlots chan struct{} // worker-wide bound on concurrent decodes
	streamSlots chan struct{} // worker-wide bound on streams being served
	mem         *memBudget    // worker-wide bound on image memory
	streams     streamLog     // the last streams and failed files, for worker-status

	runtime    *model.Runtime // ONNX Runtime, loaded by the first model read
	models     *model.Cache   // open model sessions by digest
	modelSlots chan struct{}  // worker-wide bound on model calls running at once
	modelMem   modelMem       // open sessions' activations in the memory budget
}

// NewWorker returns a worker.
func NewWorker(cfg WorkerConfig, deps WorkerDeps) (*Worker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(deps.Secret) == 0 || deps.Mounts == nil {
		return nil, errors.New("worker: a secret and mounts are required")
	}
	log := deps.Logger
	if log == nil {
		log = slog.Default()
	}
	w := &Worker{cfg: cfg, deps: deps, signer: wire.NewSigner(deps.Secret), log: log, splitCache: map[string]wire.SplitList{},
		decodeSlots: make(chan struct{}, cfg.Parallelism), streamSlots: make(chan struct{}, cfg.MaxStreams),
		mem: newMemBudget(cfg.MemoryBudget), runtime: model.NewRuntime(cfg.Model), models: model.NewCache(cfg.Model.CacheBytes),
		modelSlots: make(chan struct{}, max(1, cfg.Parallelism/cfg.Model.Threads))}
	return w, nil
}

// Config is the worker's configuration.
func (w *Worker) Config() WorkerConfig { return w.cfg }

// Memory is the bytes reserved against the memory budget now, and their
// high-water mark.
func (w *Worker) Memory() (used, high int64) { return w.mem.stats() }

// Active is the number of streams being served.
func (w *Worker) Active() int64 { return w.active.Load() }

// Status is the worker-status answer; detail adds the recent streams and
// failed files.
func (w *Worker) Status(detail bool) wire.WorkerStatus {
	st := wire.WorkerStatus{Active: w.active.Load(), Draining: w.draining.Load(), BudgetLimit: w.mem.limit}
	st.BudgetUsed, _ = w.mem.stats()
	if detail {
		w.streams.fill(&st)
	}
	return st
}

// Drain refuses new streams and waits until in-flight ones finish or ctx ends.
func (w *Worker) Drain(ctx context.Context) error {
	w.draining.Store(true)
	done := make(chan struct{})
	go func() { w.inflight.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("worker drain: %d streams still running: %w", w.active.Load(), ctx.Err())
	}
}

// Split is one split ready to stream: its ticket verified, its files
// confined, a stream slot held. Close it when done.
type Split struct {
	w      *Worker
	t      *wire.Ticket
	skip   int
	fsys   hdfsio.FileSystem
	locs   []hdfsio.Location
	dirs   [][]partitionValue
	pipe   wire.Pipeline
	schema *arrow.Schema
	arena  *arena // where Run lays decoded pixels out; nil with transforms
	model  *model.Session
	// releaseModel releases model (nil without one).
	releaseModel func()
	once         sync.Once
}

// Open verifies a DoGet ticket (with its resume suffix) and prepares its
// split, waiting for a stream slot. Errors carry a wire kind.
func (w *Worker) Open(ctx context.Context, ticket []byte) (*Split, error) {
	if w.draining.Load() {
		return nil, wire.Errorf(wire.KindUnavailable, "worker is shutting down; use another location")
	}
	w.inflight.Add(1)
	w.active.Add(1)
	sp, err := w.open(ctx, ticket)
	if err != nil {
		w.inflight.Done()
		w.active.Add(-1)
		return nil, err
	}
	select {
	case w.streamSlots <- struct{}{}:
		return sp, nil
	case <-ctx.Done():
		sp.releaseModel()
		w.inflight.Done()
		w.active.Add(-1)
		return nil, wire.Wrap(wire.AutoKind, ctx.Err(), "waiting for a stream slot")
	}
}

func (w *Worker) open(ctx context.Context, ticket []byte) (*Split, error) {
	t, skip, err := w.signer.Verify(ticket, time.Now())
	if err != nil {
		if wire.KindOf(err) == wire.KindExpired {
			return nil, wire.Wrap(wire.KindExpired, err, "call GetFlightInfo again")
		}
		return nil, err
	}
	base, err := hdfsio.ParseLocation(t.Base)
	if err != nil {
		return nil, wire.Wrap(wire.KindInvalidArgument, err, "ticket base")
	}
	if !w.deps.Roots.Contains(base) {
		return nil, wire.Errorf(wire.KindPermission, "%s is outside this worker's roots", base)
	}
	fsys, err := w.deps.Mounts.For(ctx, base)
	if err != nil {
		return nil, wire.MountError(err)
	}
	signed, _, _ := wire.ParseResume(ticket)
	if err := w.splitList(ctx, t, signed); err != nil {
		return nil, err
	}
	pipe, err := t.Pipeline()
	if err != nil {
		return nil, wire.Wrap(wire.KindInvalidArgument, err, "ticket pipeline")
	}
	// Every row's tensor has this shape, an invalid row's null one too (a
	// fixed-size list keeps its values): refuse it before any file is read.
	if th, tw := int64(pipe.TensorShape[1]), int64(pipe.TensorShape[2]); pipe.Tensor != nil && th*tw > w.cfg.Decode.MaxPixels {
		return nil, wire.Errorf(wire.KindInvalidArgument, "tensor of %dx%d is %d pixels per row, over this worker's limit of %d (--max-pixels)", tw, th, th*tw, w.cfg.Decode.MaxPixels)
	}
	var sess *model.Session
	release := func() {}
	if pipe.Model != nil {
		if sess, release, err = w.openModel(ctx, &pipe); err != nil {
			return nil, err
		}
	}
	sp := &Split{w: w, t: t, skip: skip, fsys: fsys, locs: make([]hdfsio.Location, len(t.Files)), pipe: pipe, schema: schema.For(t.Columns, pipe),
		model: sess, releaseModel: release}
	for i, f := range t.Files {
		sp.locs[i] = base.Join(f.Rel)
		if !sp.locs[i].Within(base) {
			release()
			return nil, wire.Errorf(wire.KindPermission, "ticket file %q escapes %s", f.Rel, base)
		}
	}
	if sp.dirs, err = parseDirs(t.Columns, t.Dirs, len(t.Files)); err != nil {
		release()
		return nil, wire.Wrap(wire.KindInvalidArgument, err, fmt.Sprintf("split %d of plan %s", t.Split, t.Plan))
	}
	return sp, nil
}

// Schema is the split's stream schema.
func (sp *Split) Schema() *arrow.Schema { return sp.schema }

// Close releases the split's stream slot.
func (sp *Split) Close() {
	sp.once.Do(func() {
		sp.releaseModel()
		<-sp.w.streamSlots
		sp.w.inflight.Done()
		sp.w.active.Add(-1)
	})
}
