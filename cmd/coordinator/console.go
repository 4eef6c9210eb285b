package main

import (
	"net/http"

	"github.com/imageflight/imageflight/pkg/console"
	"github.com/imageflight/imageflight/pkg/server"
)

// newConsole wires the web console to a running process: its cluster
// status, its recent plans, its mounts and roots, and thumbnails read
// through its own Flight service (so the workers decode them).
func newConsole(p *server.Process) (http.Handler, error) {
	deps := console.Deps{Cluster: p, Plans: planSource{p}, Storage: p.Mounts(), Roots: p.Roots(),
		Thumbs: console.FlightThumbnailer{Client: p.SelfClient()}}
	c, err := console.New(console.DefaultConfig(), deps)
	if err != nil {
		return nil, err
	}
	return c.Handler(), nil
}

// planSource adapts the coordinator's plan records to the console's.
type planSource struct{ p *server.Process }

func (s planSource) RecentPlans() []console.Plan {
	recs := s.p.RecentPlans()
	out := make([]console.Plan, len(recs))
	for i, r := range recs {
		out[i] = console.Plan{ID: r.ID, At: r.At, Took: r.Took, Descriptor: r.Descriptor, Path: r.Path, Files: r.Files,
			Bytes: r.Bytes, ByRef: r.ByRef, Err: r.Err}
		for _, sp := range r.Splits {
			out[i].Splits = append(out[i].Splits, console.Split{Files: sp.Files, Bytes: sp.Bytes, Locations: sp.Locations})
		}
	}
	return out
}
