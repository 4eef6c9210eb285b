package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/imageflight/imageflight/cmd/internal/cliconfig"
	"github.com/imageflight/imageflight/pkg/client"
	"github.com/imageflight/imageflight/pkg/imagerow"
	"github.com/imageflight/imageflight/pkg/wire"
	"github.com/urfave/cli/v2"
)

func readCommand() *cli.Command {
	return &cli.Command{
		Name:      "read",
		Usage:     "read a path through a running cluster and print a summary",
		ArgsUsage: "PATH",
		Description: "Plans PATH on the coordinator at --coordinator (or IMAGEFLIGHT_COORDINATOR; default\n" +
			"grpc://127.0.0.1:8815), reads every endpoint and prints rows, formats, modes and sizes.\n" +
			"Flags may follow PATH.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "coordinator", Value: "grpc://127.0.0.1:8815", EnvVars: []string{"IMAGEFLIGHT_COORDINATOR"}, Usage: "coordinator Flight URI (grpc:// or grpc+tls://)"},
			&cli.BoolFlag{Name: "recursive", Usage: "read files at any depth"},
			&cli.IntFlag{Name: "num-partitions", Value: -1, Usage: "splits (-1: two per worker core)"},
			&cli.Float64Flag{Name: "sample-ratio", Value: 1, Usage: "fraction of files to read, in [0, 1]"},
			&cli.Int64Flag{Name: "seed", Usage: "sampling seed"},
			&cli.BoolFlag{Name: "drop-image-failures", Usage: "drop undecodable images instead of returning invalid rows"},
			&cli.StringFlag{Name: "transforms", Usage: `SynapseML ImageTransformer stages as JSON, e.g. '[{"action": "resize", "size": 224, "keepAspectRatio": true}]'`},
			&cli.StringFlag{Name: "tensor", Usage: `add a tensor column: SynapseML toTensor parameters as JSON, e.g. '{"colorScaleFactor": 0.00392}'`},
			&cli.BoolFlag{Name: "fast-resize", Usage: "decode JPEGs at reduced scale when the first stage shrinks them 2x or more"},
			&cli.StringFlag{Name: "model", Usage: `run an ONNX model on the tensor on the workers: SynapseML ONNXModel parameters as JSON, e.g. '{"modelLocation": "/data/m.onnx", "feedDict": {"input": "tensor"}, "fetchDict": {"features": "pooled"}}' (docs/models.md)`},
		}, cliconfig.ClientFlags()...),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("read takes one PATH")
			}
			req := wire.Descriptor{Path: c.Args().First(), Recursive: c.Bool("recursive"), NumPartitions: c.Int("num-partitions"),
				SampleRatio: c.Float64("sample-ratio"), Seed: c.Int64("seed"), DropImageFailures: c.Bool("drop-image-failures"),
				Transforms: json.RawMessage(c.String("transforms")), Tensor: json.RawMessage(c.String("tensor")), FastResize: c.Bool("fast-resize"),
				Model: json.RawMessage(c.String("model"))}
			if err := req.Validate(); err != nil {
				return err
			}
			cfg := client.DefaultConfig(c.String("coordinator"))
			if err := cliconfig.ClientSecurity(c, &cfg); err != nil {
				return err
			}
			_, err := readAndSummarize(c.Context, cfg, req, os.Stdout)
			return err
		},
	}
}

// summary accumulates what a read returned.
type summary struct {
	mu         sync.Mutex
	rows       int
	invalid    int
	pixels     int64
	bytes      int64
	formats    map[string]int
	modes      map[int32]int
	minW, minH int32
	maxW, maxH int32
	partitions map[string]map[string]int
}

func (s *summary) add(b client.Batch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := b.Record
	img := rec.Column(0).(*array.Struct)
	for i := 0; i < int(rec.NumRows()); i++ {
		r := imagerow.At(img, i)
		s.rows++
		ext := strings.TrimPrefix(strings.ToLower(path.Ext(r.Origin)), ".")
		s.formats[ext]++
		if !r.Valid() {
			s.invalid++
			continue
		}
		s.modes[r.Mode]++
		s.pixels += int64(r.Height) * int64(r.Width)
		s.bytes += int64(len(r.Data))
		if s.minW == 0 || r.Width*r.Height < s.minW*s.minH {
			s.minW, s.minH = r.Width, r.Height
		}
		if r.Width*r.Height > s.maxW*s.maxH {
			s.maxW, s.maxH = r.Width, r.Height
		}
		for c := 1; c < int(rec.NumCols()); c++ {
			if _, tensor := rec.Column(c).DataType().(arrow.ExtensionType); tensor {
				continue // a tensor or model column: no value to count
			}
			name := rec.ColumnName(c)
			if s.partitions[name] == nil {
				s.partitions[name] = map[string]int{}
			}
			s.partitions[name][rec.Column(c).ValueStr(i)]++
		}
	}
}

// readAndSummarize plans req, reads every endpoint and prints a summary.
func readAndSummarize(ctx context.Context, cfg client.Config, req wire.Descriptor, out io.Writer) (*summary, error) {
	cmd := req.Command()
	cl := client.New(cfg)
	defer cl.Close()
	start := time.Now()
	info, err := cl.Plan(ctx, cmd)
	if err != nil {
		return nil, fmt.Errorf("plan %s: %w", req.Path, err)
	}
	planned := time.Since(start)
	s := &summary{formats: map[string]int{}, modes: map[int32]int{}, partitions: map[string]map[string]int{}}
	stats, err := cl.ReadAll(ctx, info, func(b client.Batch) error { s.add(b); return nil })
	if err != nil {
		return nil, err
	}
	s.print(out, info, planned, time.Since(start), stats)
	return s, nil
}

func (s *summary) print(out io.Writer, info *aflight.FlightInfo, planned, total time.Duration, stats client.Stats) {
	fmt.Fprintf(out, "rows            %d (%d invalid)\n", s.rows, s.invalid)
	fmt.Fprintf(out, "endpoints       %d (planned in %s, failovers %d)\n", len(info.GetEndpoint()), planned.Round(time.Millisecond), stats.Failovers)
	fmt.Fprintf(out, "formats         %s\n", counts(s.formats))
	modes := map[string]int{}
	for m, n := range s.modes {
		modes[map[int32]string{0: "CV_8UC1", 16: "CV_8UC3", 24: "CV_8UC4"}[m]] += n
	}
	fmt.Fprintf(out, "modes           %s\n", counts(modes))
	fmt.Fprintf(out, "sizes           %dx%d .. %dx%d (WxH)\n", s.minW, s.minH, s.maxW, s.maxH)
	for name, vals := range s.partitions {
		fmt.Fprintf(out, "partition %-5s %s\n", name, counts(vals))
	}
	secs := total.Seconds()
	fmt.Fprintf(out, "throughput      %.1f images/s, %.1f MP/s, %.1f MB/s of pixels (%s total)\n",
		float64(s.rows)/secs, float64(s.pixels)/1e6/secs, float64(s.bytes)/1e6/secs, total.Round(time.Millisecond))
}

func counts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}
