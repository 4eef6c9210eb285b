package pipeline

import (
	"bytes"
	"context"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"sync"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
	"golang.org/x/image/webp"

	"github.com/imageflight/imageflight/pkg/imagerow"
	"github.com/imageflight/imageflight/pkg/wire"
)

// How the pipeline holds the memory budget (budget.go): a decode reserves
// the file's size plus its decoded size (from the header) before reading
// the file; after decoding it keeps only the row's size; the row's bytes
// come back when the batch holding it was sent, or when the stream ends.

// headerPeek is how much of a file is read to find its dimensions before
// its memory is reserved. It covers the headers of every format in
// practice (JPEG EXIF/ICC segments included); files whose header lies
// further in are reserved at their file size and settled after decoding.
const headerPeek = 256 << 10

// decodeBytesPerPixel is the peak a decode holds per pixel: the decoder's
// image (up to 4 bytes per pixel for 8-bit formats) plus the row's BGR(A)
// copy (up to 4).
const decodeBytesPerPixel = 8

// decodeReserved runs one decode holding a reservation, made in its turn
// and settled to the row's size when the decode is done; pipeline (may be
// nil) is what the image's transforms and tensor will add, by its size.
func (w *Worker) decodeReserved(ctx context.Context, tn turn, pipeline func(h, w int) int64, decode func(context.Context) decoded) decoded {
	res := &reservation{b: w.mem, turn: tn, pipeline: pipeline}
	defer tn.pass() // a decode that failed before reserving
	d := decode(withReservation(ctx, res))
	if d.err != nil || !d.keep {
		res.release()
		return d
	}
	res.settle(rowBytes(&d.row) + tensorBytes(d.tensor))
	d.res = res
	return d
}

// rowBytes is what a row's image costs in a batch, as the batcher counts
// it (its tensor, if any, is counted by tensorBytes).
func rowBytes(r *imagerow.Row) int64 { return int64(len(r.Data) + len(r.Origin) + rowOverhead) }

// reserveRead reads the start of an open file, reserves the memory the
// file's read and decode will take, and returns a reader of the whole
// file. Without a reservation in ctx it returns f as is.
func (w *Worker) reserveRead(ctx context.Context, f io.Reader, size int64) (io.Reader, error) {
	res := reservationFrom(ctx)
	if res == nil || res.n > 0 {
		return &ctxReader{ctx: ctx, r: f}, nil
	}
	size = min(max(size, 0), w.cfg.MaxFileBytes)
	peek := make([]byte, min(size+1, headerPeek))
	n, err := io.ReadFull(f, peek)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, err
	}
	peek = peek[:n]
	if err := res.reserve(ctx, size+decodedEstimate(peek, w.cfg.Decode.MaxPixels, res.pipeline)); err != nil {
		return nil, err
	}
	return &ctxReader{ctx: ctx, r: io.MultiReader(bytes.NewReader(peek), f)}, nil
}

// decodedEstimate is the decode's peak memory from the image's header,
// plus what pipeline (may be nil) adds for an image of that size, or 0 when
// the header does not parse or the image is over the pixel limit (the
// decoder refuses it before allocating).
func decodedEstimate(head []byte, maxPixels int64, pipeline func(h, w int) int64) int64 {
	h, w, ok := headerDims(head)
	if !ok {
		return 0
	}
	px := int64(w) * int64(h)
	if px > maxPixels {
		return 0
	}
	n := px * decodeBytesPerPixel
	if pipeline != nil {
		n += pipeline(h, w)
	}
	return n
}

// headerDims are an image's height and width from its header.
func headerDims(head []byte) (h, w int, ok bool) {
	cfg := headerConfigs[imagerow.Sniff(head)]
	if cfg == nil {
		return 0, 0, false
	}
	c, err := safeConfig(cfg, head)
	if err != nil || c.Width <= 0 || c.Height <= 0 {
		return 0, 0, false
	}
	return c.Height, c.Width, true
}

// headerConfigs parse each format's header without decoding pixels.
var headerConfigs = map[string]func(io.Reader) (image.Config, error){
	imagerow.FormatJPEG: jpeg.DecodeConfig, imagerow.FormatPNG: png.DecodeConfig,
	imagerow.FormatGIF: gif.DecodeConfig, imagerow.FormatBMP: bmp.DecodeConfig,
	imagerow.FormatTIFF: tiff.DecodeConfig, imagerow.FormatWebP: webp.DecodeConfig,
}

// safeConfig parses a header, treating a decoder panic as a bad header.
func safeConfig(cfg func(io.Reader) (image.Config, error), head []byte) (c image.Config, err error) {
	defer func() {
		if recover() != nil {
			c, err = image.Config{}, io.ErrUnexpectedEOF
		}
	}()
	return cfg(bytes.NewReader(head))
}

// ctxReader stops a read between chunks once its stream is cancelled, so a
// storage that trickles bytes cannot hold a decode slot after the client
// went away.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

type connKey struct{}

// WithConn returns ctx carrying conn, a context that ends when the
// stream's client connection does (the Flight edge knows it; nil: an
// in-process stream). gRPC's transport frees the buffers of a reset
// stream's queued batches, but not those of a connection that died under
// them; Run gives their rows' reservations back when conn ends instead.
func WithConn(ctx, conn context.Context) context.Context {
	return context.WithValue(ctx, connKey{}, conn)
}

// connOf is the connection context WithConn put in ctx, or nil.
func connOf(ctx context.Context) context.Context {
	conn, _ := ctx.Value(connKey{}).(context.Context)
	return conn
}

// heldRows are the reservations of the rows in the batch being built.
type heldRows struct {
	rows []*reservation
	// conn ends with the client's connection (nil for in-process streams):
	// then nothing will free the batches the transport still holds.
	conn context.Context
}

func (h *heldRows) add(r *reservation) {
	if r != nil {
		h.rows = append(h.rows, r)
	}
}

// flush sends the batch; its rows' memory goes back to the budget when the
// batch's pixels are freed (pooled slabs live until gRPC's transport has
// written them), so the budget counts them for as long as they exist — or
// when the connection ends, since gRPC then drops what it had queued
// without freeing it (the pixels become garbage; the budget must not wait
// for them).
func (h *heldRows) flush(b *batcher, send SendFunc, next int) error {
	rs := h.rows
	h.rows = nil // the batch owns them now
	if len(rs) > 0 {
		var once sync.Once
		release := func() {
			once.Do(func() {
				for _, r := range rs {
					r.release()
				}
			})
		}
		stop := func() bool { return false }
		if h.conn != nil {
			stop = context.AfterFunc(h.conn, release)
		}
		b.onFree = func() { stop(); release() }
	}
	return b.flush(send, next)
}

func (h *heldRows) release() {
	for _, r := range h.rows {
		r.release()
	}
	h.rows = h.rows[:0]
}

// await waits for the next row's decode. While it waits and others wait
// for memory, it sends the rows it holds in a partial batch (flush) rather
// than keep their memory until the batch fills.
func (sp *Split) await(ctx context.Context, fut <-chan decoded, b *batcher, flush func() error) (decoded, error) {
	for {
		var press <-chan struct{}
		if b.rows > 0 {
			press = sp.w.mem.pressure()
		}
		select {
		case d := <-fut:
			return d, nil
		case <-press:
			if err := flush(); err != nil {
				return decoded{}, err
			}
		case <-ctx.Done():
			return decoded{}, wire.Wrap(wire.AutoKind, ctx.Err(), "stream")
		}
	}
}

// releaseQueue gives back the memory of decodes a stream started but did
// not send (pending, taken from the queue, and those still in it); it runs
// after the stream's context was cancelled, in the background so a slow
// decode does not hold up the stream's end.
func releaseQueue(pending chan decoded, queue <-chan chan decoded) {
	release := func(fut chan decoded) {
		if d := <-fut; d.res != nil {
			d.res.release()
		}
	}
	go func() {
		if pending != nil {
			release(pending)
		}
		for fut := range queue {
			release(fut)
		}
	}()
}
