package planner

import (
	"strings"
	"time"

	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/imageflight/imageflight/pkg/plan"
	"github.com/imageflight/imageflight/pkg/schema"
	"github.com/imageflight/imageflight/pkg/wire"
)

// flightInfo signs one ticket per split. Each split's list is packed once:
// the packed sizes decide between inline tickets and a by-reference plan
// kept on the coordinator, which keeps the packed form.
func (c *Coordinator) flightInfo(desc *aflight.FlightDescriptor, req wire.Descriptor, pipe wire.Pipeline, p *readPlan, pm plannedModel) (*aflight.FlightInfo, error) {
	expires := time.Now().Add(c.cfg.TicketTTL)
	pipe.ModelPlan = pm.plan
	cols := wireColumns(p.columns)
	info := &aflight.FlightInfo{
		Schema:           aflight.SerializeSchema(schema.For(cols, pipe), memory.DefaultAllocator),
		FlightDescriptor: desc,
		TotalRecords:     int64(p.files),
		TotalBytes:       -1,
		Ordered:          true,
	}
	if req.DropImageFailures {
		info.TotalRecords = -1 // unknown until decoded
	}
	header := func(i int) *wire.Ticket {
		return &wire.Ticket{Plan: p.id, Split: i, Base: p.base.String(), Columns: cols, Drop: req.DropImageFailures,
			Expires: expires.Unix(), Count: len(p.splits[i].Files),
			Transforms: req.Transforms, Tensor: req.Tensor, FastResize: req.FastResize,
			HeaderOnly: req.HeaderOnly, FailureReasons: req.FailureReasons,
			Model: req.Model, ModelSize: pm.size, ModelDigest: pm.digest}
	}
	packed, total, err := packSplits(p, header)
	if err != nil {
		return nil, err
	}
	p.byRef = total > c.cfg.MaxInfoBytes && c.deps.Self != ""
	if p.byRef {
		if err := c.plans.put(p.id, expires, packed); err != nil {
			return nil, err
		}
		c.log.Info("plan too large for inline tickets; workers fetch split lists from the coordinator", "plan", p.id, "list_bytes", total)
	}
	for i := range p.splits {
		t := header(i)
		list := packed[i]
		if p.byRef {
			t.Coordinator, list = c.deps.Self, nil
		}
		tk, err := c.signer.SignPacked(t, list)
		if err != nil {
			return nil, wire.Wrap(wire.KindInternal, err, "sign ticket")
		}
		ep := &aflight.FlightEndpoint{Ticket: &aflight.Ticket{Ticket: tk},
			AppMetadata: wire.AppendEndpointMeta(nil, wire.EndpointMeta{Files: t.Count})}
		for _, wi := range p.locations[i] {
			ep.Location = append(ep.Location, &aflight.Location{Uri: p.workers[wi].Location})
		}
		// Unix sockets after every network location: a client that takes
		// the first location, or fails over in order, reaches a worker from
		// any host; clients on a worker's host move its socket first
		// (docs/protocol.md).
		for _, wi := range p.locations[i] {
			if u := p.workers[wi].Unix; u != "" {
				ep.Location = append(ep.Location, &aflight.Location{Uri: u})
			}
		}
		info.Endpoint = append(info.Endpoint, ep)
	}
	return info, nil
}

// packSplits packs each split's list once and estimates the inline
// tickets' total size: every split costs its packed list plus a header of
// about the first one's size (wire.TicketSize).
func packSplits(p *readPlan, header func(int) *wire.Ticket) (packed [][]byte, total int, err error) {
	headerBytes := 0
	if len(p.splits) > 0 {
		headerBytes = wire.TicketSize(header(0), 0)
	}
	packed = make([][]byte, len(p.splits))
	for i, s := range p.splits {
		b, err := wire.PackSplitList(splitList(p.base.Path, p.columns, p.dirs, s.Files))
		if err != nil {
			return nil, 0, wire.Wrap(wire.KindInternal, err, "pack split list")
		}
		packed[i], total = b, total+headerBytes+len(b)*4/3
	}
	return packed, total, nil
}

// splitList is a split's files relative to base, with the partition values
// of each folder (computed once per folder by the listing) in column order.
func splitList(base string, cols []plan.Column, dirs []plan.PartitionDir, files []plan.File) wire.SplitList {
	l := wire.SplitList{Files: make([]wire.TicketFile, len(files))}
	local := map[int32]int{} // listing folder → index in l.Dirs
	for i, f := range files {
		l.Files[i] = wire.TicketFile{Rel: relPath(base, f.Path), Size: f.Size}
		if len(cols) == 0 {
			continue
		}
		d, ok := local[f.Dir]
		if !ok {
			d = len(l.Dirs)
			local[f.Dir] = d
			l.Dirs = append(l.Dirs, dirValues(&dirs[f.Dir], cols))
		}
		l.Files[i].Dir = d
	}
	return l
}

// dirValues are a folder's partition values in column order; nil stands
// for null (no such folder level, or Hive's null marker).
func dirValues(d *plan.PartitionDir, cols []plan.Column) []*string {
	out := make([]*string, len(cols))
	for ci, c := range cols {
		if v, ok := d.Value(c.Name); ok && !plan.IsNull(v) {
			out[ci] = &v
		}
	}
	return out
}

func wireColumns(cols []plan.Column) []wire.Column {
	out := make([]wire.Column, len(cols))
	for i, c := range cols {
		out[i] = wire.Column{Name: c.Name, Type: string(c.Type)}
	}
	return out
}

func relPath(base, p string) string {
	if p == base {
		return "."
	}
	return strings.TrimPrefix(p, strings.TrimSuffix(base, "/")+"/")
}
