package planner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/imageflight/imageflight/pkg/hdfsio"
	"github.com/imageflight/imageflight/pkg/model"
	"github.com/imageflight/imageflight/pkg/stage"
	"github.com/imageflight/imageflight/pkg/wire"
)

// plannedModel is a descriptor's model as planning read it: its columns,
// and the size and digest the tickets carry (zero without a model).
type plannedModel struct {
	plan   *stage.ModelPlan
	size   int64
	digest string
}

// planModel reads the descriptor's model file — confined to the served
// roots like any path — digests it, and checks its declared graph against
// the tensor, so that every model problem answers before any listing or
// image read, naming the model. pipe is the descriptor's parsed pipeline.
func (c *Coordinator) planModel(ctx context.Context, pipe wire.Pipeline) (plannedModel, error) {
	if pipe.Model == nil {
		return plannedModel{}, nil
	}
	loc, err := hdfsio.ParseLocation(pipe.Model.Location)
	if err != nil {
		return plannedModel{}, &wire.DescriptorError{Key: "model", Msg: "model.modelLocation: " + err.Error()}
	}
	if !c.deps.Roots.Contains(loc) {
		return plannedModel{}, wire.Errorf(wire.KindInvalidArgument, "model %s is outside the served roots", loc)
	}
	facts, err := c.models.read(ctx, c.deps.Mounts, loc)
	if err != nil {
		return plannedModel{}, err
	}
	mp, err := stage.PlanModel(pipe.Model, facts.io, pipe.TensorShape, pipe.Tensor.Double)
	if err != nil {
		return plannedModel{}, &wire.DescriptorError{Key: "model", Msg: "model " + loc.String() + ": " + paramText(err)}
	}
	return plannedModel{plan: &mp, size: facts.size, digest: facts.digest}, nil
}

// modelFacts is what planning needs of a model file: its declared inputs
// and outputs, and the size and digest the tickets carry.
type modelFacts struct {
	io     stage.ModelIO
	size   int64
	digest string
}

// modelKey names one version of a model file: a file rewritten in place
// gets a new modification time (or size).
type modelKey struct {
	loc   string
	size  int64
	mtime time.Time
}

// modelCache keeps the facts of the models planned lately, so that a plan
// does not hash a model's whole file again (0.06–0.16 s for ResNet-18's
// 45 MB). The file is still opened on every plan — confined, so a model
// moved outside the roots is refused as before — and its open
// descriptor's size and modification time pick the entry. A file
// rewritten with the same size within the clock's resolution would be
// signed with the old digest; workers then refuse its bytes (Verify),
// never run them.
type modelCache struct {
	mu      sync.Mutex
	entries map[modelKey]modelFacts
}

// modelCacheSize bounds the cache: a coordinator serves a few models.
const modelCacheSize = 16

// read returns the facts of the model at loc, from the cache when the
// open file's size and modification time match an entry.
func (mc *modelCache) read(ctx context.Context, mounts *hdfsio.Mounts, loc hdfsio.Location) (modelFacts, error) {
	f, err := model.OpenFile(ctx, mounts, loc)
	if err != nil {
		return modelFacts{}, err
	}
	defer f.Close()
	key, keyed := statKey(loc, f)
	if keyed {
		mc.mu.Lock()
		facts, ok := mc.entries[key]
		mc.mu.Unlock()
		if ok {
			return facts, nil
		}
	}
	data, err := model.ReadModel(f, loc.String(), model.DefaultConfig().MaxModelBytes)
	if err != nil {
		return modelFacts{}, err
	}
	decl, err := model.ReadIO(data)
	if err != nil {
		if errors.Is(err, model.ErrNotONNX) {
			return modelFacts{}, wire.Errorf(wire.KindInvalidArgument, "model %s: %v", loc, err)
		}
		return modelFacts{}, wire.Wrap(wire.KindInvalidArgument, err, "model "+loc.String())
	}
	facts := modelFacts{io: decl, size: int64(len(data)), digest: model.Digest(data)}
	if keyed && key.size == facts.size {
		mc.mu.Lock()
		if mc.entries == nil || len(mc.entries) >= modelCacheSize {
			mc.entries = make(map[modelKey]modelFacts) // rare: start over
		}
		mc.entries[key] = facts
		mc.mu.Unlock()
	}
	return facts, nil
}

// statKey keys an open model file by its descriptor's facts, when the
// file system gives them (local files and HDFS do).
func statKey(loc hdfsio.Location, f io.Reader) (modelKey, bool) {
	st, ok := f.(interface{ Stat() (fs.FileInfo, error) })
	if !ok {
		return modelKey{}, false
	}
	fi, err := st.Stat()
	if err != nil || fi.ModTime().IsZero() {
		return modelKey{}, false
	}
	return modelKey{loc: loc.String(), size: fi.Size(), mtime: fi.ModTime()}, true
}

// paramText is a ParamError's message with its path.
func paramText(err error) string {
	var pe *stage.ParamError
	if errors.As(err, &pe) {
		return pe.Error()
	}
	return err.Error()
}

// clash refuses a model column named like a partition column of the
// listing (Spark resolves column names case-insensitively).
func (pm plannedModel) clash(cols []wire.Column) error {
	if pm.plan == nil {
		return nil
	}
	for _, mc := range pm.plan.Columns {
		for _, c := range cols {
			if strings.EqualFold(mc.Name, c.Name) {
				return &wire.DescriptorError{Key: "model", Msg: fmt.Sprintf("model column %q is also a partition column of the listing (a %s=... folder): name it otherwise", mc.Name, c.Name)}
			}
		}
	}
	return nil
}
