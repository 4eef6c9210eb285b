package imagerow

import (
	"bytes"
	"context"
	"io"
)

// ctxReader is a bytes.Reader that fails once ctx is done. The pure-Go
// decoders cannot be interrupted, but they all read their input in small
// pieces (image/jpeg 4 KiB at a time, image/png chunk by chunk), so a
// failing Read is how a cancelled stream stops them within a few reads.
type ctxReader struct {
	ctx context.Context
	*bytes.Reader
}

func newCtxReader(ctx context.Context, data []byte) io.Reader {
	if ctx.Done() == nil {
		// Never cancelled (Background): skip the per-Read check.
		return bytes.NewReader(data)
	}
	return &ctxReader{ctx, bytes.NewReader(data)}
}

func (r *ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.Reader.Read(p)
}

func (r *ctxReader) ReadByte() (byte, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.Reader.ReadByte()
}

// ctxReaderAt is ctxReader for decoders that read at offsets
// (x/image/tiff uses ReadAt when its reader has it).
type ctxReaderAt struct {
	ctx context.Context
	*bytes.Reader
}

func newCtxReaderAt(ctx context.Context, data []byte) io.Reader {
	if ctx.Done() == nil {
		return bytes.NewReader(data)
	}
	return &ctxReaderAt{ctx, bytes.NewReader(data)}
}

func (r *ctxReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.Reader.ReadAt(p, off)
}
