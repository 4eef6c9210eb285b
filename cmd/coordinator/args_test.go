package main

import (
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

func TestFlagsFirst(t *testing.T) {
	app := &cli.App{Commands: []*cli.Command{readCommand(), statusCommand()}}
	tests := []struct{ in, want string }{
		{"coordinator read /data --recursive", "coordinator read --recursive /data"},
		{"coordinator read /data --seed 7 --recursive", "coordinator read --seed 7 --recursive /data"},
		{"coordinator read --recursive /data", "coordinator read --recursive /data"},
		{"coordinator read /data --seed=7", "coordinator read --seed=7 /data"},
		{"coordinator read -- -odd-name", "coordinator read -- -odd-name"},
		{"coordinator --listen x:1", "coordinator --listen x:1"},
	}
	for _, tc := range tests {
		if got := strings.Join(flagsFirst(app, strings.Fields(tc.in)), " "); got != tc.want {
			t.Errorf("%q → %q, want %q", tc.in, got, tc.want)
		}
	}
}
