// Command ladder-server serves the transport ladder's synthetic Flight
// source (package ladder) on loopback TCP and a Unix socket, for
// test/bench/ladder_pyarrow.py: it prints one JSON line with both
// locations and serves until its stdin closes.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"

	"github.com/imageflight/imageflight/test/bench/ladder"
)

func main() {
	dir := flag.String("dir", "", "folder for the Unix socket (default: a new temporary folder)")
	tuning := flag.String("tuning", "default", "gRPC sizes: a name in ladder.Tunings")
	msgMB := flag.Int("msg-mb", 8, "MiB per batch (ladder.MessageBytes)")
	flag.Parse()
	ladder.MessageBytes = *msgMB << 20
	if *dir == "" {
		d, err := os.MkdirTemp("", "ladder")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	t, ok := ladder.Tunings[*tuning]
	if !ok {
		log.Fatalf("unknown -tuning %q", *tuning)
	}
	opts := t.ServerOptions()
	sock := filepath.Join(*dir, "ladder.sock")
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	unix, err := net.Listen("unix", sock)
	if err != nil {
		log.Fatal(err)
	}
	for _, l := range []net.Listener{tcp, unix} {
		srv := ladder.NewFlightServer(opts...)
		srv.InitListener(l)
		go func() { _ = srv.Serve() }()
	}
	out, _ := json.Marshal(map[string]any{"tcp": "grpc://" + tcp.Addr().String(), "unix": "grpc+unix://" + sock, "pid": os.Getpid()})
	fmt.Println(string(out))
	_, _ = io.Copy(io.Discard, os.Stdin)
}
