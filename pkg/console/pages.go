package console

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/imageflight/imageflight/pkg/hdfsio"
	"github.com/imageflight/imageflight/pkg/wire"
)

var funcs = template.FuncMap{
	"bytes":   func(n int64) string { return humanBytes(n) },
	"bytes64": func(n int) string { return humanBytes(int64(n)) },
	"join":    strings.Join,
	"rate":    rate,
}

// rate shows about three significant digits in plain notation: 'g' would
// write 1100 images/s as 1.1e+03.
func rate(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case v >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64) // plain down to 0.0001, however slow
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// memberView is one row of the Cluster page.
type memberView struct {
	wire.MemberStatus
	W                      *wire.WorkerStatus
	HasRate                bool
	ImagesPerSec, MBPerSec float64 // images served, encoded MB read
	PixelMBPerSec          float64 // MB of decoded pixels served
	Failures               []Bar   // failed streams by gRPC code
	FileFailures           []Bar   // the worker's recent failed files by reason
}

func (c *Console) cluster(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), c.cfg.PageTimeout)
	defer cancel()
	st := c.deps.Cluster.ClusterStatusDetail(ctx)
	now := time.Now()
	data := struct {
		Coordinator  string
		Members      []memberView
		Planned      int
		At           string
		Refresh      int
		SendTimeouts int64
	}{Coordinator: st.Coordinator, Planned: len(st.Workers), At: now.UTC().Format("15:04:05 UTC"), Refresh: int(c.cfg.Refresh.Seconds())}
	seen := map[string]bool{}
	for _, m := range st.Members {
		seen[m.Name] = true
		v := memberView{MemberStatus: m, W: m.Worker}
		if ws := m.Worker; ws != nil {
			var images int64
			for _, n := range ws.Images {
				images += n
			}
			var r [3]float64
			r, v.HasRate = c.rates.rate(m.Name, now, [3]int64{images, ws.BytesRead, ws.PixelBytes})
			v.ImagesPerSec, v.MBPerSec, v.PixelMBPerSec = r[0], r[1]/1e6, r[2]/1e6
			fails := map[string]int{}
			for code, n := range ws.Streams {
				if code != "OK" && n > 0 {
					fails[code] = int(n)
				}
			}
			v.Failures = bars(fails)
			reasons := map[string]int{}
			for _, f := range ws.Failures {
				reasons[f.Reason]++
			}
			v.FileFailures = bars(reasons)
			data.SendTimeouts += ws.SendTimeouts
		}
		data.Members = append(data.Members, v)
	}
	c.rates.forget(seen)
	sort.Slice(data.Members, func(i, j int) bool { return data.Members[i].Name < data.Members[j].Name })
	c.render(w, http.StatusOK, "cluster", page{Title: "Cluster", Active: "cluster", Refresh: data.Refresh, Data: data})
}

// streamView is one worker's stream of an endpoint.
type streamView struct {
	Worker string
	wire.StreamStatus
}

// planView is a plan with what the workers report of its streams.
type planView struct {
	Plan
	Streams  [][]streamView // by endpoint
	Done     int            // files sent, over every endpoint's furthest stream
	Resumes  int
	Reported bool // some worker reported a stream of this plan
}

type failureView struct {
	Worker string
	wire.FileFailure
}

func (c *Console) reads(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), c.cfg.PageTimeout)
	defer cancel()
	st := c.deps.Cluster.ClusterStatusDetail(ctx)
	data := struct {
		Plans    []planView
		Active   int64
		Failures []failureView
		Silent   []string // workers that did not answer
	}{}
	byPlan := map[string][]streamView{}
	for _, m := range st.Members {
		if m.Active > 0 {
			data.Active += m.Active
		}
		if m.Worker == nil {
			if m.Role != "coordinator" {
				data.Silent = append(data.Silent, m.Name)
			}
			continue
		}
		for _, s := range m.Worker.Recent {
			byPlan[s.Plan] = append(byPlan[s.Plan], streamView{m.Name, s})
		}
		for _, f := range m.Worker.Failures {
			data.Failures = append(data.Failures, failureView{m.Name, f})
		}
	}
	sort.Slice(data.Failures, func(i, j int) bool { return data.Failures[i].At.After(data.Failures[j].At) })
	for _, p := range c.deps.Plans.RecentPlans() {
		v := planView{Plan: p, Streams: make([][]streamView, len(p.Splits))}
		for _, s := range byPlan[p.ID] {
			if p.ID == "" || s.Split < 0 || s.Split >= len(v.Streams) {
				continue
			}
			v.Reported = true
			v.Streams[s.Split] = append(v.Streams[s.Split], s)
			if s.From > 0 {
				v.Resumes++
			}
		}
		for _, ss := range v.Streams {
			furthest := 0
			for _, s := range ss {
				furthest = max(furthest, s.Done)
			}
			v.Done += furthest
		}
		data.Plans = append(data.Plans, v)
	}
	c.render(w, http.StatusOK, "reads", page{Title: "Reads", Active: "reads", Data: data})
}

// thumbView is one thumbnail of the Browse page.
type thumbView struct {
	Name, Failure string
	Src           template.URL // a data: URI this package encoded
	W, H          int
}

type classView struct {
	Class string
	Items []thumbView
}

type browseView struct {
	Path     string
	Parent   string
	Roots    []string
	S        *Summary
	Thumbs   []classView
	ThumbErr string
	ClassBy  string
	Broken   []Broken

	MaxEntries, MaxDepth, HeaderBytes, HeaderSample, PerClass, Classes int
}

func (c *Console) browse(w http.ResponseWriter, r *http.Request) {
	sc := c.cfg.Scan
	v := browseView{Path: r.URL.Query().Get("path"), MaxEntries: sc.MaxEntries, MaxDepth: sc.MaxDepth, HeaderBytes: sc.HeaderBytes,
		HeaderSample: sc.HeaderSample, PerClass: sc.ThumbsPerClass, Classes: sc.ThumbClasses}
	for _, root := range c.deps.Roots {
		v.Roots = append(v.Roots, root.String())
	}
	if v.Path == "" {
		c.render(w, http.StatusOK, "browse", page{Title: "Browse", Active: "browse", Data: v})
		return
	}
	loc, err := hdfsio.ParseLocation(v.Path)
	if err != nil {
		c.fail(w, http.StatusBadRequest, err.Error())
		return
	}
	if !c.deps.Roots.Contains(loc) {
		c.fail(w, http.StatusForbidden, loc.String()+" is outside the served roots")
		return
	}
	if p := loc; path.Dir(loc.Path) != loc.Path {
		p.Path = path.Dir(loc.Path)
		if c.deps.Roots.Contains(p) {
			v.Parent = p.String()
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), c.cfg.PageTimeout)
	defer cancel()
	fsys, err := c.deps.Storage.For(ctx, loc)
	if err != nil {
		c.fail(w, http.StatusBadGateway, err.Error())
		return
	}
	if fi, err := fsys.Stat(ctx, loc.Path); err == nil && !fi.IsDir() {
		c.fail(w, http.StatusBadRequest, loc.String()+" is a file: browse its folder")
		return
	}
	var confine func(string) bool
	if loc.Scheme == "file" {
		confine = hdfsio.LocalConfine(c.deps.Roots)
	}
	v.S, err = Scan(ctx, fsys, loc, sc, confine)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		c.fail(w, http.StatusNotFound, err.Error())
		return
	case errors.Is(err, fs.ErrPermission):
		c.fail(w, http.StatusForbidden, err.Error())
		return
	case err != nil:
		c.fail(w, http.StatusBadGateway, err.Error())
		return
	}
	v.ClassBy = v.S.ClassBy
	if c.deps.Thumbs != nil {
		c.thumbnails(ctx, &v)
	}
	v.Broken = v.S.Broken
	c.render(w, http.StatusOK, "browse", page{Title: "Browse " + loc.String(), Active: "browse", Data: v})
}

// thumbnails asks the workers for the sample's thumbnails and encodes each
// as a JPEG data: URI (a few KB each, so the page is one request).
func (c *Console) thumbnails(ctx context.Context, v *browseView) {
	classes, files := v.S.Sample(c.cfg.Scan)
	var all []string
	for _, f := range files {
		all = append(all, f...)
	}
	if len(all) == 0 {
		return
	}
	thumbs, err := c.deps.Thumbs.Thumbnails(ctx, all, c.cfg.Scan.ThumbSize)
	if err != nil {
		v.ThumbErr = err.Error()
		return
	}
	by := make(map[string]Thumb, len(thumbs))
	for _, t := range thumbs {
		by[t.Origin] = t
	}
	for i, class := range classes {
		cv := classView{Class: class}
		for _, f := range files[i] {
			t, ok := by[f]
			tv := thumbView{Name: path.Base(f)}
			switch {
			case !ok:
				tv.Failure = "no thumbnail came back"
			case t.Failure != "":
				tv.Failure = t.Failure
				v.S.AddBroken(strings.TrimPrefix(f, v.S.Base.String()+"/"), f, "decode: "+t.Failure)
			default:
				src, err := DataURI(t.Image)
				if err != nil {
					tv.Failure = err.Error()
					break
				}
				tv.Src, tv.W, tv.H = template.URL(src), t.Image.Bounds().Dx(), t.Image.Bounds().Dy()
			}
			cv.Items = append(cv.Items, tv)
		}
		v.Thumbs = append(v.Thumbs, cv)
	}
}
