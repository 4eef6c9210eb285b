// Command worker serves imageflight DoGet streams: it joins the cluster's
// gossip, and for every signed ticket reads, decodes and streams the
// split's images as Arrow batches in Spark's image schema.
package main

import (
	"fmt"
	"os"

	"github.com/imageflight/imageflight/cmd/internal/cliconfig"
	"github.com/imageflight/imageflight/pkg/server"
	"github.com/urfave/cli/v2"
)

func main() {
	app := &cli.App{
		Name:   "worker",
		Usage:  "serve image splits over Arrow Flight (joins a coordinator's gossip)",
		Flags:  cliconfig.ServeFlags("127.0.0.1:8816", "127.0.0.1:7947"),
		Action: func(c *cli.Context) error { return cliconfig.Serve(c, server.RoleWorker) },
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}
