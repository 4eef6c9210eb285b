// Command coordinator plans imageflight reads: it answers GetFlightInfo with
// one endpoint per split, each naming the live workers (found by gossip)
// that can serve it. With --standalone it also serves DoGet itself. Its
// subcommands read a path (read), show the cluster (status), summarize a
// folder with a contact sheet of its classes (inspect), write the
// sample corpus (gen-samples) and run the whole path end to end on that
// corpus (demo).
package main

import (
	"fmt"
	"os"

	"github.com/imageflight/imageflight/cmd/internal/cliconfig"
	"github.com/imageflight/imageflight/pkg/server"
	"github.com/urfave/cli/v2"
)

func main() {
	flags := append(cliconfig.ServeFlags("127.0.0.1:8815", "127.0.0.1:7946"),
		&cli.BoolFlag{Name: "standalone", EnvVars: []string{"IMAGEFLIGHT_STANDALONE"}, Usage: "also serve DoGet in this process (an in-process worker)"},
		&cli.StringFlag{Name: "http-listen", EnvVars: []string{"IMAGEFLIGHT_HTTP_LISTEN"}, Usage: "serve the web console on this address (default: on --metrics-listen, beside /metrics); behind the Flight TLS and --auth-users-file when those are set"})
	app := &cli.App{
		Name:  "coordinator",
		Usage: "plan image reads over Arrow Flight for a gossip cluster of workers",
		Flags: flags,
		Action: func(c *cli.Context) error {
			role := server.RoleCoordinator
			if c.Bool("standalone") {
				role = server.RoleStandalone
			}
			return cliconfig.Serve(c, role, func(cfg *server.Config) {
				cfg.HTTPListen = c.String("http-listen")
				cfg.Console = newConsole
			})
		},
		Commands: []*cli.Command{readCommand(), statusCommand(), inspectCommand(), genSamplesCommand(), demoCommand()},
	}
	if err := app.Run(flagsFirst(app, os.Args)); err != nil {
		fmt.Fprintln(os.Stderr, "coordinator:", err)
		os.Exit(1)
	}
}
