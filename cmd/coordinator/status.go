package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"

	"github.com/imageflight/imageflight/cmd/internal/cliconfig"
	"github.com/imageflight/imageflight/pkg/client"
	"github.com/imageflight/imageflight/pkg/membership"
	"github.com/imageflight/imageflight/pkg/wire"
	"github.com/urfave/cli/v2"
)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show the cluster's members, their state and load",
		Description: "Asks the coordinator at --coordinator (or IMAGEFLIGHT_COORDINATOR; default\n" +
			"grpc://127.0.0.1:8815) for cluster-status.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "coordinator", Value: "grpc://127.0.0.1:8815", EnvVars: []string{"IMAGEFLIGHT_COORDINATOR"}, Usage: "coordinator Flight URI (grpc:// or grpc+tls://)"},
			&cli.BoolFlag{Name: "json", Usage: "print the raw JSON"},
		}, cliconfig.ClientFlags()...),
		Action: func(c *cli.Context) error {
			cfg := client.DefaultConfig(c.String("coordinator"))
			if err := cliconfig.ClientSecurity(c, &cfg); err != nil {
				return err
			}
			cl := client.New(cfg)
			defer cl.Close()
			body, err := cl.Action(c.Context, wire.ActionClusterStatus, nil)
			if err != nil {
				return fmt.Errorf("cluster-status from %s: %w", cfg.Coordinator, err)
			}
			if c.Bool("json") {
				_, err := os.Stdout.Write(append(body, '\n'))
				return err
			}
			var st wire.ClusterStatus
			if err := json.Unmarshal(body, &st); err != nil {
				return err
			}
			return writeStatus(os.Stdout, st)
		},
	}
}

// writeStatus prints the members as a table. ACTIVE is "-" for members
// that serve no streams (the coordinator) and "?" for a worker that did not
// answer, rather than the wire's -1 for both.
func writeStatus(w io.Writer, st wire.ClusterStatus) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tSTATE\tLOCATION\tHOST\tCAPACITY\tACTIVE\tVERSION")
	for _, m := range st.Members {
		active := strconv.FormatInt(m.Active, 10)
		switch {
		case m.Role == membership.RoleCoordinator:
			active = "-"
		case m.Active < 0:
			active = "?"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", m.Name, m.Role, m.State, m.Location, m.Host, m.Capacity, active, m.Version)
	}
	return tw.Flush()
}
