package pipeline

import (
	"context"
	"path"
	"strings"

	"github.com/imageflight/imageflight/pkg/imagerow"
	"github.com/imageflight/imageflight/pkg/wire"
)

// maxReasonBytes bounds one failure reason.
const maxReasonBytes = 512

// failureReason is err's message as a row's failure: the decoder's or the
// transform's error without the file's path in front (rows carry their
// origin) and with the file named by its base name elsewhere, so that no
// server path (a root, where a link leads) reaches the client; bounded.
func failureReason(err error, origin, name string) string {
	msg := err.Error()
	for _, p := range []string{origin, name} {
		msg = strings.TrimPrefix(msg, p+": ")
		if p != "" {
			msg = strings.ReplaceAll(msg, p, path.Base(p))
		}
	}
	if len(msg) > maxReasonBytes {
		msg = msg[:maxReasonBytes] + "…"
	}
	return msg
}

// headerOnly makes a file's row from its header (the descriptor's
// "pixels": false, failures kept): imagerow.DecodeHeader, no transforms.
func (w *Worker) headerOnly(ctx context.Context, origin string, data []byte) decoded {
	row, err := imagerow.DecodeHeader(ctx, origin, data, w.cfg.Decode)
	if ctx.Err() != nil {
		return decoded{err: wire.Wrap(wire.AutoKind, ctx.Err(), "decode "+origin)}
	}
	if err != nil {
		w.log.Warn("image failed", "path", origin, "err", err)
		return w.failed(origin, false, failureReason(err, origin, ""))
	}
	imagesTotal.WithLabelValues("ok").Inc()
	return decoded{row: row, keep: true}
}
