package model

import (
	"io"

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
