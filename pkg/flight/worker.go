package flight

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/imageflight/imageflight/pkg/hdfsio"
	"github.com/imageflight/imageflight/pkg/imagerow"
	"github.com/imageflight/imageflight/pkg/plan"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// WorkerConfig configures the serving side.
type WorkerConfig struct {
	Roots  hdfsio.Roots // only files under these are served
	Secret []byte       // verifies the coordinator's ticket signatures
	Decode imagerow.Options
	// BatchBytes caps a record batch's pixel bytes; a single larger image
	// still goes out, alone in its batch.
	BatchBytes int64
	// Parallelism bounds concurrent decodes across all streams of the
	// worker (default: cores); each stream may hold twice as many decoded
	// images waiting for their turn.
	Parallelism int
	// MaxFileBytes bounds how much of one file is read; a larger file
	// becomes an invalid row.
	MaxFileBytes int64
	// ReadRetries is how often a failed read is retried before the stream
	// fails with a status naming the file.
	ReadRetries int
	// MaxStreams bounds the streams decoding at once (default 4 per decode
	// slot); further DoGets wait their turn. With Parallelism it bounds the
	// worker's memory: per stream one batch plus 2×Parallelism decoded
	// images waiting, plus the images being decoded.
	MaxStreams int
	// DialOptions apply when the worker calls the coordinator (TLS, auth).
	DialOptions []grpc.DialOption
	Logger      *slog.Logger
}

// DefaultWorkerConfig returns a config with sane limits.
func DefaultWorkerConfig() WorkerConfig {
	return WorkerConfig{
		Decode:       imagerow.DefaultOptions(),
		BatchBytes:   8 << 20,
		Parallelism:  runtime.GOMAXPROCS(0),
		MaxFileBytes: 512 << 20,
		ReadRetries:  2,
		Logger:       slog.Default(),
	}
}

// Worker serves DoGet: verify, confine, read, decode, stream.
type Worker struct {
	cfg      WorkerConfig
	mounts   *hdfsio.Mounts
	signer   *Signer
	log      *slog.Logger
	realRoot []string // local roots with symlinks resolved

	draining atomic.Bool
	inflight sync.WaitGroup
	active   atomic.Int64

	splitMu    sync.Mutex
	splitCache map[string][]TicketFile

	decodeSlots chan struct{} // worker-wide bound on concurrent decodes
	streamSlots chan struct{} // worker-wide bound on streams being served
}

// NewWorker returns a worker reading through mounts.
func NewWorker(cfg WorkerConfig, mounts *hdfsio.Mounts) (*Worker, error) {
	if len(cfg.Roots) == 0 {
		return nil, errors.New("worker: at least one root is required")
	}
	if len(cfg.Secret) == 0 {
		return nil, errors.New("worker: a cluster secret is required to verify tickets")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Parallelism <= 0 {
		cfg.Parallelism = runtime.GOMAXPROCS(0)
	}
	if cfg.MaxStreams <= 0 {
		cfg.MaxStreams = 4 * cfg.Parallelism
	}
	w := &Worker{cfg: cfg, mounts: mounts, signer: NewSigner(cfg.Secret), log: cfg.Logger, splitCache: map[string][]TicketFile{},
		decodeSlots: make(chan struct{}, cfg.Parallelism), streamSlots: make(chan struct{}, cfg.MaxStreams)}
	for _, r := range cfg.Roots {
		if r.Scheme == "file" {
			real, err := filepath.EvalSymlinks(filepath.FromSlash(r.Path))
			if err != nil {
				real = r.Path
			}
			w.realRoot = append(w.realRoot, filepath.ToSlash(real))
		}
	}
	return w, nil
}

// Active is the number of streams being served.
func (w *Worker) Active() int64 { return w.active.Load() }

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

// BatchMeta is the app_metadata on every batch: Next is the split position
// (files consumed) after the batch; a client that loses the stream resumes
// elsewhere by appending ";skip=<Next>" to the ticket.
type BatchMeta struct {
	Next int `json:"next"`
}

// DoGet streams one split.
func (w *Worker) DoGet(tkt *aflight.Ticket, stream aflight.FlightService_DoGetServer) (err error) {
	if w.draining.Load() {
		return status.Error(codes.Unavailable, "worker is shutting down; use another location")
	}
	w.inflight.Add(1)
	w.active.Add(1)
	streamsInFlight.Inc()
	defer func() {
		w.inflight.Done()
		w.active.Add(-1)
		streamsInFlight.Dec()
		streamsTotal.WithLabelValues(status.Code(err).String()).Inc()
	}()
	t, skip, err := w.signer.Verify(tkt.GetTicket(), time.Now())
	switch {
	case errors.Is(err, ErrBadSignature):
		return status.Error(codes.PermissionDenied, err.Error())
	case errors.Is(err, ErrTicketExpired):
		return status.Errorf(codes.FailedPrecondition, "%v; call GetFlightInfo again", err)
	case err != nil:
		return status.Error(codes.InvalidArgument, err.Error())
	}
	base, err := hdfsio.ParseLocation(t.Base)
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "ticket base: %v", err)
	}
	if !w.cfg.Roots.Contains(base) {
		return status.Errorf(codes.PermissionDenied, "%s is outside this worker's roots", base)
	}
	ctx := stream.Context()
	fsys, err := w.mounts.For(ctx, base)
	if err != nil {
		return status.Errorf(codes.Unavailable, "%v", err)
	}
	if t.Files, err = w.splitFiles(ctx, t, tkt.GetTicket()); err != nil {
		return err
	}
	locs := make([]hdfsio.Location, len(t.Files))
	for i, f := range t.Files {
		locs[i] = base.Join(f.Rel)
		if !locs[i].Within(base) {
			return status.Errorf(codes.PermissionDenied, "ticket file %q escapes %s", f.Rel, base)
		}
	}
	select {
	case w.streamSlots <- struct{}{}:
		defer func() { <-w.streamSlots }()
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
	w.log.Debug("serving split", "plan", t.Plan, "split", t.Split, "files", len(t.Files), "skip", skip)
	return w.stream(ctx, stream, t, fsys, base, locs, skip)
}

// decoded is one file's outcome, delivered in split order.
type decoded struct {
	row  imagerow.Row
	keep bool
	err  error // fatal: fails the stream
}

func (w *Worker) stream(ctx context.Context, stream aflight.FlightService_DoGetServer, t *Ticket,
	fsys hdfsio.FileSystem, base hdfsio.Location, locs []hdfsio.Location, skip int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// Futures in split order: decodes run in parallel (bounded worker-wide
	// by decodeSlots), the stream consumes them in order, and the queue's
	// capacity bounds how many decoded images wait in memory.
	queue := make(chan chan decoded, 2*w.cfg.Parallelism)
	sem := w.decodeSlots
	go func() {
		defer close(queue)
		for i := skip; i < len(locs); i++ {
			fut := make(chan decoded, 1)
			select {
			case queue <- fut:
			case <-ctx.Done():
				return
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			go func(i int) {
				defer func() { <-sem }()
				fut <- w.decodeOne(ctx, fsys, locs[i], t.Files[i].Size, t.Drop)
			}(i)
		}
	}()

	schema := Schema(t.Columns)
	wr := aflight.NewRecordWriter(stream, ipc.WithSchema(schema))
	defer wr.Close()
	rb := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer rb.Release()
	img := rb.Field(0).(*array.StructBuilder)
	// Size the pixel buffer for a full batch up front: growing it by
	// doubling would copy every image several times.
	pixels := img.FieldBuilder(5).(*array.BinaryBuilder)
	reserve := int(min(w.cfg.BatchBytes, 64<<20))
	pixels.ReserveData(reserve)
	var batchBytes int64
	rows := 0
	flush := func(next int) error {
		rec := rb.NewRecordBatch()
		defer rec.Release()
		meta, _ := json.Marshal(BatchMeta{Next: next})
		if err := wr.WriteWithAppMetadata(rec, meta); err != nil {
			return fmt.Errorf("send batch: %w", err)
		}
		batchBytes, rows = 0, 0
		pixels.ReserveData(reserve)
		return nil
	}
	pos := skip
	for fut := range queue {
		var d decoded
		select {
		case d = <-fut:
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		}
		if d.err != nil {
			return d.err
		}
		pos++
		if !d.keep {
			continue
		}
		size := int64(len(d.row.Data) + len(d.row.Origin) + 32)
		if rows > 0 && batchBytes+size > w.cfg.BatchBytes {
			if err := flush(pos - 1); err != nil {
				return err
			}
		}
		imagerow.Append(img, &d.row)
		if err := w.appendPartitions(rb, t, base, locs[pos-1]); err != nil {
			return status.Errorf(codes.Internal, "%s: %v", locs[pos-1], err)
		}
		batchBytes += size
		rows++
	}
	if err := ctx.Err(); err != nil {
		return status.FromContextError(err).Err()
	}
	if rows > 0 {
		if err := flush(pos); err != nil {
			return err
		}
	}
	return nil
}

func (w *Worker) appendPartitions(rb *array.RecordBuilder, t *Ticket, base, loc hdfsio.Location) error {
	if len(t.Columns) == 0 {
		return nil
	}
	keys, values := plan.PartitionValues(base.Path, loc.Path)
	for ci, c := range t.Columns {
		v, found := "", false
		for k := len(keys) - 1; k >= 0; k-- {
			if keys[k] == c.Name {
				v, found = values[k], true
				break
			}
		}
		if err := appendPartition(rb.Field(ci+1), v, !found || plan.IsNull(v)); err != nil {
			return err
		}
	}
	return nil
}

// decodeOne reads and decodes one file. Bad images never fail the stream;
// storage errors that survive retries do, naming the file.
func (w *Worker) decodeOne(ctx context.Context, fsys hdfsio.FileSystem, loc hdfsio.Location, size int64, drop bool) decoded {
	origin := fsys.URI(loc.Path)
	if err := w.confine(loc); err != nil {
		return decoded{err: status.Errorf(codes.PermissionDenied, "%s: %v", origin, err)}
	}
	data, err := w.read(ctx, fsys, loc.Path)
	switch {
	case errors.Is(err, errTooLarge):
		w.log.Warn("image failed", "path", origin, "err", err)
		return w.failed(origin, drop)
	case errors.Is(err, fs.ErrNotExist):
		return decoded{err: status.Errorf(codes.NotFound, "%s: file disappeared after planning: %v", origin, err)}
	case err != nil:
		if ctx.Err() != nil {
			return decoded{err: status.FromContextError(ctx.Err()).Err()}
		}
		return decoded{err: status.Errorf(codes.Unavailable, "read %s: %v", origin, err)}
	}
	bytesRead.Add(float64(len(data)))
	row, err := imagerow.Decode(origin, data, w.cfg.Decode)
	if err != nil {
		w.log.Warn("image failed", "path", origin, "err", err)
		return w.failed(origin, drop)
	}
	imagesTotal.WithLabelValues("ok").Inc()
	return decoded{row: row, keep: true}
}

func (w *Worker) failed(origin string, drop bool) decoded {
	if drop {
		imagesTotal.WithLabelValues("dropped").Inc()
		return decoded{}
	}
	imagesTotal.WithLabelValues("invalid").Inc()
	return decoded{row: imagerow.Invalid(origin), keep: true}
}

// confine re-checks a local file after resolving symlinks, so a link
// inside a root cannot expose a file outside every root.
func (w *Worker) confine(loc hdfsio.Location) error {
	if loc.Scheme != "file" {
		return nil
	}
	real, err := filepath.EvalSymlinks(filepath.FromSlash(loc.Path))
	if err != nil {
		return nil // a missing file is reported by the read
	}
	real = filepath.ToSlash(real)
	for _, r := range w.realRoot {
		if (hdfsio.Location{Scheme: "file", Path: real}).Within(hdfsio.Location{Scheme: "file", Path: r}) {
			return nil
		}
	}
	return fmt.Errorf("resolves to %s, outside this worker's roots", real)
}

var errTooLarge = errors.New("file exceeds the worker's size limit")

// read returns a whole file, retrying transient failures with backoff.
func (w *Worker) read(ctx context.Context, fsys hdfsio.FileSystem, name string) ([]byte, error) {
	var last error
	for attempt := 0; attempt <= w.cfg.ReadRetries; attempt++ {
		if attempt > 0 {
			select {
			case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		data, err := w.readOnce(ctx, fsys, name)
		if err == nil || errors.Is(err, errTooLarge) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) || ctx.Err() != nil {
			return data, err
		}
		last = err
		w.log.Warn("read failed; retrying", "path", name, "attempt", attempt+1, "err", err)
	}
	return nil, last
}

func (w *Worker) readOnce(ctx context.Context, fsys hdfsio.FileSystem, name string) ([]byte, error) {
	f, err := fsys.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, w.cfg.MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > w.cfg.MaxFileBytes {
		return nil, fmt.Errorf("%s: %w (%d bytes)", name, errTooLarge, w.cfg.MaxFileBytes)
	}
	return data, nil
}
