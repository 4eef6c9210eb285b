package bench

// BenchmarkLadder is issue 23's transport ladder: the same bytes moved by
// ever richer transports, in one process (both ends' CPU counted), so the
// rungs' CPU per GB shows where delivery's cost comes from. The payload is
// 8 MiB messages of non-zero bytes (the worker's batch size); nothing is
// decoded. Rungs:
//
//   - copy/{tcp,unix}: a plain write/read loop over a loopback TCP
//     connection or a Unix domain socket — the kernel's floor;
//   - grpc/{tcp,unix}/T: gRPC server streaming of raw 8 MiB messages (no
//     protobuf), with the gRPC sizes of tuning T (ladder.Tunings: default
//     is grpc-go's, product what imageflight ships);
//   - flight/{tcp,unix}/T[/xN]: Flight DoGet of Arrow batches (one binary
//     column, 1 MiB rows) sent through pkg/flightcodec as a worker sends
//     them and read through pkg/peer as pkg/client reads them; xN splits
//     the bytes over N concurrent DoGets on one connection (product tuning).
//
// The pyarrow rung is ladder_pyarrow.py (same server, as a process).
//
//	go test -run '^$' -bench Ladder -benchtime 3x ./test/bench
//
// Env: LADDER_MB (MiB per op, default 1024), LADDER_MSG_MB (message size,
// MiB, default 8), LADDER_TUNINGS (names in
// ladder.Tunings, space-separated; default "default product win buf win+buf"). Metrics: cpu-s/GB (user+sys
// of the process per GB, from getrusage), GB/s (wall).

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/imageflight/imageflight/pkg/peer"
	"github.com/imageflight/imageflight/test/bench/ladder"
)

func BenchmarkLadder(b *testing.B) {
	ladder.MessageBytes = benchEnvInt(b, "LADDER_MSG_MB", 8) << 20
	total := int64(benchEnvInt(b, "LADDER_MB", 1024)) << 20
	total = ladder.Messages(total) * int64(ladder.MessageBytes)
	for _, network := range []string{"tcp", "unix"} {
		b.Run("copy/"+network, func(b *testing.B) { ladderRun(b, total, copyRung(b, network)) })
	}
	tunings := strings.Fields(os.Getenv("LADDER_TUNINGS"))
	if len(tunings) == 0 {
		tunings = []string{"default", "product", "win", "buf", "win+buf"}
	}
	for _, network := range []string{"tcp", "unix"} {
		for _, t := range tunings {
			b.Run("grpc/"+network+"/"+t, func(b *testing.B) { ladderRun(b, total, grpcRung(b, network, tuning(b, t))) })
		}
	}
	for _, network := range []string{"tcp", "unix"} {
		for _, t := range tunings {
			b.Run("flight/"+network+"/"+t, func(b *testing.B) { ladderRun(b, total, flightRung(b, network, tuning(b, t), 1)) })
		}
		for _, n := range []int{2, 4} {
			b.Run(fmt.Sprintf("flight/%s/product/x%d", network, n), func(b *testing.B) {
				ladderRun(b, total, flightRung(b, network, ladder.Tunings["product"], n))
			})
		}
	}
}

func tuning(b *testing.B, name string) ladder.Tuning {
	t, ok := ladder.Tunings[name]
	if !ok {
		b.Fatalf("LADDER_TUNINGS: no tuning %q", name)
	}
	return t
}

// ladderRun times b.N transfers of total bytes by move, reporting CPU per
// GB and GB/s over the timed loop.
func ladderRun(b *testing.B, total int64, move func(total int64) (int64, error)) {
	if got, err := move(total); err != nil || got != total { // warm-up: connections, windows, pools
		b.Fatalf("warm-up moved %d of %d bytes: %v", got, total, err)
	}
	b.SetBytes(total)
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	start := time.Now()
	b.ResetTimer()
	for range b.N {
		if got, err := move(total); err != nil || got != total {
			b.Fatalf("moved %d of %d bytes: %v", got, total, err)
		}
	}
	b.StopTimer()
	wall := time.Since(start).Seconds()
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := tvSeconds(after.Utime) + tvSeconds(after.Stime) - tvSeconds(before.Utime) - tvSeconds(before.Stime)
	gb := float64(total) * float64(b.N) / 1e9
	b.ReportMetric(cpu/gb, "cpu-s/GB")
	b.ReportMetric(gb/wall, "GB/s")
}

func tvSeconds(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

func ladderListen(b *testing.B, network string) net.Listener {
	l, err := ladder.Listen(network, filepath.Join(b.TempDir(), "s.sock"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	return l
}

// copyRung is a plain copy loop: one connection per transfer, the sender
// writing 8 MiB at a time, the receiver reading 1 MiB at a time.
func copyRung(b *testing.B, network string) func(int64) (int64, error) {
	l := ladderListen(b, network)
	payload := ladder.Payload()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var n int64
				if _, err := fmt.Fscanf(c, "%d\n", &n); err == nil {
					_ = ladder.Send(c, payload, n)
				}
			}()
		}
	}()
	return func(total int64) (int64, error) {
		c, err := net.Dial(l.Addr().Network(), l.Addr().String())
		if err != nil {
			return 0, err
		}
		defer c.Close()
		if _, err := fmt.Fprintf(c, "%d\n", total); err != nil {
			return 0, err
		}
		return ladder.Drain(c)
	}
}

func grpcTarget(l net.Listener) string {
	if l.Addr().Network() == "unix" {
		return "unix://" + l.Addr().String()
	}
	return l.Addr().String()
}

// grpcRung streams raw 8 MiB gRPC messages over one connection.
func grpcRung(b *testing.B, network string, t ladder.Tuning) func(int64) (int64, error) {
	l := ladderListen(b, network)
	srv := ladder.NewRawServer(t.ServerOptions()...)
	go func() { _ = srv.Serve(l) }()
	b.Cleanup(srv.Stop)
	opts := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, peer.TransportDialOptions()...)
	conn, err := grpc.NewClient(grpcTarget(l), append(opts, t.DialOptions()...)...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	return func(total int64) (int64, error) { return ladder.PullRaw(context.Background(), conn, total) }
}

// flightRung reads DoGets of Arrow batches through pkg/peer's client (the
// Go client's transport), streams at once on one connection.
func flightRung(b *testing.B, network string, t ladder.Tuning, streams int) func(int64) (int64, error) {
	l := ladderListen(b, network)
	srv := ladder.NewFlightServer(t.ServerOptions()...)
	srv.InitListener(l)
	go func() { _ = srv.Serve() }()
	b.Cleanup(srv.Shutdown)
	loc := "grpc://" + l.Addr().String()
	if network == "unix" {
		loc = peer.UnixPrefix + l.Addr().String()
	}
	pool := peer.New(peer.Config{MaxMessageBytes: 1 << 30, DialOptions: t.DialOptions()})
	b.Cleanup(func() { pool.Close() })
	fc, err := pool.Client(loc)
	if err != nil {
		b.Fatal(err)
	}
	return func(total int64) (int64, error) {
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			sum  int64
			errs []error
		)
		part := total / int64(streams)
		for range streams {
			wg.Go(func() {
				n, err := ladder.PullFlight(context.Background(), fc, part)
				mu.Lock()
				defer mu.Unlock()
				sum += n
				if err != nil {
					errs = append(errs, err)
				}
			})
		}
		wg.Wait()
		if len(errs) > 0 {
			return sum, errs[0]
		}
		return sum, nil
	}
}
