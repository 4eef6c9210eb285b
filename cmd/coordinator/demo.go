package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/imageflight/imageflight/cmd/internal/cliconfig"
	"github.com/imageflight/imageflight/pkg/client"
	"github.com/imageflight/imageflight/pkg/corpus"
	"github.com/imageflight/imageflight/pkg/server"
	"github.com/imageflight/imageflight/pkg/wire"
	"github.com/urfave/cli/v2"
)

func genSamplesCommand() *cli.Command {
	return &cli.Command{
		Name:      "gen-samples",
		Usage:     "write the sample image corpus (several formats, key=value folders, broken files) into DIR",
		ArgsUsage: "DIR",
		Flags:     []cli.Flag{&cli.IntFlag{Name: "scale", Value: 1, Usage: "multiply the number of images"}},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("gen-samples takes one DIR")
			}
			dir := c.Args().First()
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			entries, err := corpus.Write(dir, corpus.Options{Scale: c.Int("scale")})
			if err != nil {
				return err
			}
			fmt.Printf("wrote %d images under %s\n", len(entries), dir)
			return nil
		},
	}
}

func demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "serve the sample corpus with a standalone coordinator on loopback and read it back over Flight",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "scale", Value: 4, Usage: "multiply the number of sample images"},
			&cli.StringFlag{Name: "dir", Usage: "corpus folder (default: a temporary one, removed afterwards)"},
		},
		Action: func(c *cli.Context) error {
			dir := c.String("dir")
			if dir == "" {
				tmp, err := os.MkdirTemp("", "imageflight-demo-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(tmp)
				dir = tmp
			}
			entries, err := corpus.Write(dir, corpus.Options{Scale: c.Int("scale")})
			if err != nil {
				return err
			}
			fmt.Printf("sample corpus   %d files under %s\n", len(entries), dir)
			log, _ := cliconfig.Logger("warn")
			cfg := server.DefaultConfig()
			cfg.Role = server.RoleStandalone
			cfg.Roots = []string{dir}
			cfg.Listen = "127.0.0.1:0"
			cfg.GossipListen = "127.0.0.1:0"
			cfg.SecretFile = filepath.Join(dir, "..", filepath.Base(dir)+".secret")
			defer os.Remove(cfg.SecretFile)
			cfg.Logger = log
			p, err := server.Start(c.Context, cfg)
			if err != nil {
				return err
			}
			defer p.Shutdown(c.Context)
			fmt.Printf("coordinator     %s (standalone, in-process worker)\n", p.Location())
			req := wire.DefaultDescriptor()
			req.Path, req.Recursive = dir, true
			_, err = readAndSummarize(c.Context, client.DefaultConfig(p.Location()), req, os.Stdout)
			return err
		},
	}
}
