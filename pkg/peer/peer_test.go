package peer

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAddress(t *testing.T) {
	tests := []struct {
		loc, addr string
		tls, bad  bool
	}{
		{"grpc://h:1", "h:1", false, false},
		{"grpc+tcp://h:1", "h:1", false, false},
		{"grpc+tls://h:1", "h:1", true, false},
		{"grpc+unix:///run/w.sock", "unix:///run/w.sock", false, false},
		{"grpc+unix://relative.sock", "", false, true},
		{"http://h:1", "", false, true},
	}
	for _, tc := range tests {
		addr, useTLS, err := Address(tc.loc)
		if (err != nil) != tc.bad || addr != tc.addr || useTLS != tc.tls {
			t.Errorf("Address(%q) = %q, %v, %v", tc.loc, addr, useTLS, err)
		}
	}
}

// Unix locations come first when their socket is on this host, and are
// left out otherwise; network locations keep their order.
func TestReachable(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "w.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	plain := filepath.Join(dir, "file")
	if err := os.WriteFile(plain, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	here, file, gone := UnixPrefix+sock, UnixPrefix+plain, UnixPrefix+filepath.Join(dir, "other-host.sock")
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"network only", []string{"grpc://a:1", "grpc://b:1"}, []string{"grpc://a:1", "grpc://b:1"}},
		{"local socket first", []string{"grpc://a:1", "grpc://b:1", here}, []string{here, "grpc://a:1", "grpc://b:1"}},
		{"other host's socket left out", []string{"grpc://a:1", gone}, []string{"grpc://a:1"}},
		{"not a socket left out", []string{"grpc://a:1", file}, []string{"grpc://a:1"}},
		{"nothing reachable", []string{gone}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Reachable(tc.in); strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("Reachable(%v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}
