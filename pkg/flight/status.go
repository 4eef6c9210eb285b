package flight

import (
	"errors"

	"google.golang.org/grpc/status"

	"github.com/imageflight/imageflight/pkg/peer"
	"github.com/imageflight/imageflight/pkg/wire"
)

// toStatus is the Flight edge: it answers a logic error as the gRPC status
// of its kind. Nil stays nil.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	var we *wire.Error
	if _, ok := status.FromError(err); ok && !errors.As(err, &we) {
		return err // a status from grpc itself
	}
	return status.Error(peer.Code(wire.KindOf(err)), err.Error())
}

// codeLabel is the metrics label of a call's outcome.
func codeLabel(err error) string {
	return status.Code(toStatus(err)).String()
}
