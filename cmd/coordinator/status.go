package main

import (
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"

	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/imageflight/imageflight/pkg/flight"
	"github.com/imageflight/imageflight/pkg/server"
	"github.com/urfave/cli/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show the cluster's members, their state and load",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "coordinator", Value: "127.0.0.1:8815", EnvVars: []string{"IMAGEFLIGHT_COORDINATOR"}, Usage: "coordinator Flight address"},
			&cli.BoolFlag{Name: "json", Usage: "print the raw JSON"},
		},
		Action: func(c *cli.Context) error {
			addr := c.String("coordinator")
			if len(addr) > 7 && addr[:7] == "grpc://" {
				addr = addr[7:]
			}
			fc, err := aflight.NewClientWithMiddleware(addr, nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				return err
			}
			defer fc.Close()
			s, err := fc.DoAction(c.Context, &aflight.Action{Type: flight.ActionClusterStatus})
			if err != nil {
				return fmt.Errorf("cluster-status from %s: %w", addr, err)
			}
			r, err := s.Recv()
			if err != nil {
				return fmt.Errorf("cluster-status from %s: %w", addr, err)
			}
			if c.Bool("json") {
				_, err := os.Stdout.Write(append(r.GetBody(), '\n'))
				return err
			}
			var st server.ClusterStatus
			if err := json.Unmarshal(r.GetBody(), &st); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tROLE\tSTATE\tLOCATION\tHOST\tCAPACITY\tACTIVE\tVERSION")
			for _, m := range st.Members {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", m.Name, m.Role, m.State, m.Location, m.Host, m.Capacity, m.Active, m.Version)
			}
			return tw.Flush()
		},
	}
}
