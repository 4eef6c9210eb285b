package model

import (
	"context"
	"io"

	"github.com/imageflight/imageflight/pkg/hdfsio"

	"github.com/imageflight/imageflight/pkg/wire"
)

// ReadModel reads a model file whole, at most limit bytes. name is for
// messages.
func ReadModel(r io.Reader, name string, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, wire.Wrap(wire.KindUnavailable, err, "read model "+name)
	}
	if int64(len(data)) > limit {
		return nil, wire.Errorf(wire.KindInvalidArgument, "model %s is larger than the limit of %d bytes", name, limit)
	}
	return data, nil
}

// Verify refuses model bytes that are not the ones planned: a file
// changed since planning must not run under a ticket that names other
// bytes. The error is Expired (FailedPrecondition: plan again).
func Verify(data []byte, name string, size int64, digest string) error {
	if got := Digest(data); int64(len(data)) != size || got != digest {
		return wire.Errorf(wire.KindExpired, "model %s changed since planning: it has %d bytes (%s), the plan read %d (%s); plan again",
			name, len(data), got, size, digest)
	}
	return nil
}

// ReadFile reads a model file through mounts (confined like any image);
// a missing file is NotFound naming it.
func ReadFile(ctx context.Context, mounts *hdfsio.Mounts, loc hdfsio.Location, limit int64) ([]byte, error) {
	f, err := OpenFile(ctx, mounts, loc)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadModel(f, loc.String(), limit)
}

// OpenFile opens a model file through mounts with ReadFile's errors, for
// callers that look at the open file (its Stat) before reading it.
func OpenFile(ctx context.Context, mounts *hdfsio.Mounts, loc hdfsio.Location) (io.ReadCloser, error) {
	fsys, err := mounts.For(ctx, loc)
	if err != nil {
		return nil, wire.MountError(err)
	}
	f, err := fsys.Open(ctx, loc.Path)
	if err != nil {
		switch k := wire.KindOf(err); k {
		case wire.KindNotFound:
			return nil, wire.Errorf(k, "model %s does not exist", loc)
		case wire.KindPermission:
			return nil, wire.Errorf(wire.KindInvalidArgument, "model %s resolves outside the served roots", loc)
		default:
			return nil, wire.Wrap(wire.KindUnavailable, err, "open model "+loc.String())
		}
	}
	return f, nil
}
