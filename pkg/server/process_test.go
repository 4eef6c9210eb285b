package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/imageflight/imageflight/pkg/client"
	"github.com/imageflight/imageflight/pkg/corpus"
	"github.com/imageflight/imageflight/pkg/wire"
)

// A standalone process serves a read, reports itself in cluster-status,
// counts images in /metrics and shuts down cleanly.
func TestStandaloneProcess(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // liveness: 71 s were not enough under -race at load 22
	defer cancel()
	p, dir, entries := standalone(t, ctx, func(c *Config) { c.MetricsListen = "127.0.0.1:0" })
	cl := client.New(client.DefaultConfig(p.Location()))
	defer cl.Close()

	body, err := cl.Action(ctx, wire.ActionClusterStatus, nil)
	if err != nil {
		t.Fatal(err)
	}
	var st wire.ClusterStatus
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Workers) != 1 || st.Workers[0].Location != p.Location() || st.Workers[0].Role != "standalone" {
		t.Errorf("cluster-status workers = %+v, want this standalone process", st.Workers)
	}

	cmd := []byte(`{"path": "` + dir + `", "recursive": true, "dropImageFailures": true}`)
	schema, err := cl.Schema(ctx, cmd)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(schema.Field(0).Name, schema.Field(1).Name, schema.Field(2).Name); schema.NumFields() != 3 || got != "imageclssplit" {
		t.Errorf("GetSchema = %v, want image, cls, split", schema)
	}
	info, err := cl.Plan(ctx, cmd)
	if err != nil {
		t.Fatal(err)
	}
	rows := countRows(t, ctx, cl, info)
	valid := 0
	for _, e := range entries {
		if e.Format != "broken" {
			valid++
		}
	}
	if rows != valid {
		t.Errorf("read %d rows, want the %d decodable images", rows, valid)
	}

	resp, err := http.Get("http://" + p.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`imageflight_images_total{result="ok"}`, `imageflight_images_total{result="dropped"}`, "imageflight_doget_streams_total"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	if err := p.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	select {
	case <-p.Done():
	case <-time.After(2 * time.Minute):
		t.Error("Flight server still serving after Shutdown")
	}
}

// With one stream slot, parallel DoGets queue for it instead of failing,
// and every row still arrives.
func TestStreamsWaitForASlot(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // liveness, as above
	defer cancel()
	p, dir, entries := standalone(t, ctx, func(c *Config) { c.Worker.MaxStreams, c.Worker.Parallelism = 1, 1 })
	defer p.Shutdown(ctx)
	cl := client.New(client.DefaultConfig(p.Location()))
	defer cl.Close()
	info, err := cl.Plan(ctx, []byte(`{"path": "`+dir+`", "recursive": true, "numPartitions": 6}`))
	if err != nil {
		t.Fatal(err)
	}
	if rows := countRows(t, ctx, cl, info); rows != len(entries) || len(info.GetEndpoint()) != 6 {
		t.Errorf("read %d rows over %d endpoints, want %d over 6", rows, len(info.GetEndpoint()), len(entries))
	}
}

// standalone starts a standalone process over a fresh sample corpus;
// adjust edits its config first.
func standalone(t *testing.T, ctx context.Context, adjust func(*Config)) (*Process, string, []corpus.Entry) {
	t.Helper()
	dir := t.TempDir()
	entries, err := corpus.Write(dir, corpus.Options{Scale: 1})
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Roots = []string{dir}
	cfg.Listen, cfg.GossipListen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.SecretFile = filepath.Join(t.TempDir(), "secret")
	cfg.LocalGossip = true
	adjust(&cfg)
	p, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p, dir, entries
}

// countRows reads every endpoint of info and counts the rows.
func countRows(t *testing.T, ctx context.Context, cl *client.Client, info *aflight.FlightInfo) int {
	t.Helper()
	var mu sync.Mutex
	rows := 0
	if _, err := cl.ReadAll(ctx, info, func(b client.Batch) error {
		mu.Lock()
		rows += int(b.Record.NumRows())
		mu.Unlock()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return rows
}
