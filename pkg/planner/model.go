package planner

import (
	"context"
	"errors"
	"fmt"
	"strings"

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
	data, err := model.ReadFile(ctx, c.deps.Mounts, loc, model.DefaultConfig().MaxModelBytes)
	if err != nil {
		return plannedModel{}, err
	}
	io, err := model.ReadIO(data)
	if err != nil {
		if errors.Is(err, model.ErrNotONNX) {
			return plannedModel{}, wire.Errorf(wire.KindInvalidArgument, "model %s: %v", loc, err)
		}
		return plannedModel{}, wire.Wrap(wire.KindInvalidArgument, err, "model "+loc.String())
	}
	mp, err := stage.PlanModel(pipe.Model, io, pipe.TensorShape, pipe.Tensor.Double)
	if err != nil {
		return plannedModel{}, &wire.DescriptorError{Key: "model", Msg: "model " + loc.String() + ": " + paramText(err)}
	}
	return plannedModel{plan: &mp, size: int64(len(data)), digest: model.Digest(data)}, nil
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
