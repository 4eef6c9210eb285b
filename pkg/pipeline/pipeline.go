package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/imageflight/imageflight/pkg/hdfsio"
	"github.com/imageflight/imageflight/pkg/imagerow"
	"github.com/imageflight/imageflight/pkg/stage"
	"github.com/imageflight/imageflight/pkg/transform"
	"github.com/imageflight/imageflight/pkg/wire"
)

// SendFunc delivers one record batch and its metadata; the batch is
// released after it returns.
type SendFunc func(rec arrow.RecordBatch, meta wire.BatchMeta) error

// decoded is one file's outcome, delivered in split order.
type decoded struct {
	row    imagerow.Row
	mem    rowMem            // the pooled memory row.Data lies in, if any
	tensor *transform.Tensor // nil: no tensor column, or none for this image
	keep   bool
	err    error        // fatal: fails the stream
	res    *reservation // the row's memory, until its batch is sent
	// failure is why an invalid row failed (the failure column).
	failure string
}

// Run streams the split from its resume position: decodes run in parallel
// (bounded worker-wide), rows go out in split order in batches capped by
// BatchBytes, each batch carrying the position after it.
func (sp *Split) Run(ctx context.Context, send SendFunc) (err error) {
	send, ended := sp.w.streams.track(sp.t, sp.skip, len(sp.locs), send)
	defer func() { ended(err) }()
	streamsInFlight.Inc()
	defer streamsInFlight.Dec()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sp.w.log.Debug("serving split", "plan", sp.t.Plan, "split", sp.t.Split, "files", len(sp.locs), "skip", sp.skip)
	sp.arena = sp.newArena()
	defer sp.arena.close()
	queue := sp.decodeAhead(ctx)
	var pending chan decoded // taken from the queue, not yet received
	defer func() { cancel(); releaseQueue(pending, queue) }()
	b := newBatcher(sp.schema, &sp.pipe, sp.w.cfg.BatchBytes)
	defer b.release()
	if err := b.useModel(ctx, sp.w, sp.model, &sp.pipe); err != nil {
		return wire.Wrap(wire.KindInternal, err, "split")
	}
	held := heldRows{conn: connOf(ctx)} // memory of the rows in b
	defer held.release()
	pos := sp.skip
	for fut := range queue {
		pending = fut
		d, err := sp.await(ctx, fut, b, func() error { return held.flush(b, send, pos) })
		if err != nil {
			return err
		}
		pending = nil
		if d.err != nil {
			return d.err
		}
		pos++
		if !d.keep {
			continue
		}
		size := int64(len(d.row.Data)+len(d.row.Origin)+rowOverhead) + tensorBytes(d.tensor)
		if b.rows > 0 && (b.bytes+size > sp.w.cfg.BatchBytes || !b.fits(&d)) {
			if err := held.flush(b, send, pos-1); err != nil {
				d.res.release()
				return err
			}
		}
		b.add(&d, sp.dirRow(pos-1), size)
		held.add(d.res)
	}
	if err := ctx.Err(); err != nil {
		return wire.Wrap(wire.AutoKind, err, "stream")
	}
	if b.rows > 0 {
		return held.flush(b, send, pos)
	}
	return nil
}

// decodeAhead starts the split's decodes and returns their futures in
// split order; the queue's capacity bounds how many decoded images wait.
func (sp *Split) decodeAhead(ctx context.Context) <-chan chan decoded {
	w := sp.w
	queue := make(chan chan decoded, 2*w.cfg.Parallelism)
	go func() {
		defer close(queue)
		var order turns
		for i := sp.skip; i < len(sp.locs); i++ {
			fut := make(chan decoded, 1)
			select {
			case queue <- fut:
			case <-ctx.Done():
				return
			}
			select {
			case w.decodeSlots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			go func(i int, tn turn) {
				defer func() { <-w.decodeSlots }()
				fut <- w.decodeReserved(ctx, tn, sp.pipelineEstimate, func(ctx context.Context) decoded {
					return sp.decodeFile(ctx, i)
				})
			}(i, order.next())
		}
	}()
	return queue
}

func (sp *Split) dirRow(i int) []partitionValue {
	if len(sp.dirs) == 0 {
		return nil
	}
	return sp.dirs[sp.t.Files[i].Dir]
}

// decodeOne reads and decodes one file. Bad images — and files refused at
// open (not regular, or resolving outside the roots since planning) —
// never fail the stream: they become invalid rows, logged with the reason.
// Storage errors that survive retries do fail it, naming the file.
func (w *Worker) decodeOne(ctx context.Context, fsys hdfsio.FileSystem, loc hdfsio.Location, size int64, drop bool, pipe *wire.Pipeline, ra *rowAlloc) decoded {
	origin := fsys.URI(loc.Path)
	data, err := w.read(ctx, fsys, loc.Path, size)
	switch k := wire.KindOf(err); {
	case errors.Is(err, errTooLarge), err != nil && k == wire.KindPermission:
		w.log.Warn("image failed", "path", origin, "err", err)
		return w.failed(origin, drop, failureReason(err, origin, loc.Path))
	case ctx.Err() != nil:
		return decoded{err: wire.Wrap(wire.AutoKind, ctx.Err(), "read "+origin)}
	case k == wire.KindNotFound && err != nil:
		return decoded{err: wire.Wrap(wire.KindNotFound, err, origin+": file disappeared after planning")}
	case err != nil:
		return decoded{err: wire.Wrap(wire.KindUnavailable, err, "read "+origin)}
	}
	bytesRead.Add(float64(len(data)))
	// Header-only rows answer from the header when every file makes a row
	// anyway; when failures are dropped, whether a row exists depends on the
	// body, so the file is decoded and its pixels left out: a count is then
	// the decoding read's count (Spark's image source decodes for
	// dropInvalid's count too).
	// With a model, the tensor needs the pixels too.
	if pipe.HeaderOnly && !drop && pipe.Model == nil {
		return w.headerOnly(ctx, origin, data)
	}
	opts, stages := w.cfg.Decode, pipe.Stages
	ra.prepare(origin, data, &opts)
	var fullH, fullW int
	if pipe.FastResize && len(stages) > 0 {
		opts.Shrink = func(h, w int) int {
			fullH, fullW = h, w
			return stage.ShrinkFactor(stages, h, w)
		}
	}
	row, err := imagerow.DecodeContext(ctx, origin, data, opts)
	if ctx.Err() != nil {
		return decoded{err: wire.Wrap(wire.AutoKind, ctx.Err(), "decode "+origin)}
	}
	if err != nil {
		w.log.Warn("image failed", "path", origin, "err", err)
		return w.failed(origin, drop, failureReason(err, origin, loc.Path))
	}
	if fullH > 0 && (int(row.Height) != fullH || int(row.Width) != fullW) {
		stages = stage.FastStages(stages, fullH, fullW)
	}
	if len(stages) > 0 || pipe.Tensor != nil {
		cost, err := pipelineCost(pipe, stages, int(row.Height), int(row.Width), max(int(row.NChannels), 1), w.cfg.Decode.MaxPixels)
		if err != nil {
			w.log.Warn("image failed", "path", origin, "err", err)
			return w.failed(origin, drop, failureReason(err, origin, loc.Path))
		}
		reservationFrom(ctx).cover(rowBytes(&row) + cost)
	}
	d, err := applyPipeline(row, stages, pipe)
	if err != nil {
		w.log.Warn("image failed", "path", origin, "err", err)
		return w.failed(origin, drop, failureReason(err, origin, loc.Path))
	}
	imagesTotal.WithLabelValues("ok").Inc()
	if pipe.HeaderOnly { // pixels left out (a dropping count, or a model's features)
		d.row.Data = nil
	}
	pixelBytes.Add(float64(len(d.row.Data)))
	d.mem = ra.keep(d.row.Data)
	return d
}

func (w *Worker) failed(origin string, drop bool, reason string) decoded {
	w.streams.failed(origin, reason)
	if drop {
		imagesTotal.WithLabelValues("dropped").Inc()
		return decoded{}
	}
	imagesTotal.WithLabelValues("invalid").Inc()
	return decoded{row: imagerow.Invalid(origin), keep: true, failure: reason}
}

var errTooLarge = errors.New("file exceeds the worker's size limit")

// read returns a whole file, retrying transient failures with backoff.
// size is the file's size at planning time, to read it in one allocation.
func (w *Worker) read(ctx context.Context, fsys hdfsio.FileSystem, name string, size int64) ([]byte, error) {
	var last error
	for attempt := 0; attempt <= w.cfg.ReadRetries; attempt++ {
		if attempt > 0 {
			select {
			case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		data, err := w.readOnce(ctx, fsys, name, size)
		switch k := wire.KindOf(err); {
		case err == nil, errors.Is(err, errTooLarge), k == wire.KindNotFound, k == wire.KindPermission, ctx.Err() != nil:
			return data, err
		}
		last = err
		w.log.Warn("read failed; retrying", "path", name, "attempt", attempt+1, "err", err)
	}
	return nil, last
}

func (w *Worker) readOnce(ctx context.Context, fsys hdfsio.FileSystem, name string, size int64) ([]byte, error) {
	f, err := fsys.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := w.reserveRead(ctx, f, size)
	if err != nil {
		return nil, err
	}
	data, err := readAll(r, min(max(size, 0), w.cfg.MaxFileBytes), w.cfg.MaxFileBytes)
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > w.cfg.MaxFileBytes {
		return nil, fmt.Errorf("%s: %w (%d bytes)", name, errTooLarge, w.cfg.MaxFileBytes)
	}
	return data, nil
}

// readAll reads r to its end or to limit+1 bytes, in one allocation when
// the file still has its planned size (hint): one byte more than planned
// tells a grown file from a complete read.
func readAll(r io.Reader, hint, limit int64) ([]byte, error) {
	buf := make([]byte, 0, hint+1)
	for int64(len(buf)) <= limit {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		room := buf[len(buf):min(int64(cap(buf)), limit+1)]
		n, err := r.Read(room)
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
	return buf, nil
}
