package main

import (
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/imageflight/imageflight/cmd/internal/cliconfig"
	"github.com/imageflight/imageflight/pkg/client"
	"github.com/imageflight/imageflight/pkg/console"
	"github.com/imageflight/imageflight/pkg/hdfsio"
	"github.com/urfave/cli/v2"
)

func inspectCommand() *cli.Command {
	d := console.DefaultScanConfig()
	return &cli.Command{
		Name:      "inspect",
		Usage:     "summarize a folder of images: classes, formats, sizes, dimensions, broken files; optionally a contact sheet",
		ArgsUsage: "PATH",
		Description: "Lists PATH (a folder, or hdfs://) from this machine — bounded by --max-entries — and reads the headers of a\n" +
			"seeded sample of files, then prints the summary the console's Browse page shows. With --contact-sheet FILE\n" +
			"(.png or .jpg) it also writes a labelled grid of thumbnails, --per-class files of each class, decoded and\n" +
			"shrunk by the workers of the cluster at --coordinator, which must serve PATH. Flags may follow PATH.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "coordinator", Value: "grpc://127.0.0.1:8815", EnvVars: []string{"IMAGEFLIGHT_COORDINATOR"}, Usage: "coordinator Flight URI, for --contact-sheet"},
			&cli.StringFlag{Name: "contact-sheet", Usage: "write a thumbnail grid, one row per class, to this .png or .jpg file"},
			&cli.IntFlag{Name: "per-class", Value: d.ThumbsPerClass, Usage: "thumbnails per class"},
			&cli.IntFlag{Name: "classes", Value: d.ThumbClasses, Usage: "classes on the sheet (the largest ones)"},
			&cli.IntFlag{Name: "size", Value: d.ThumbSize, Usage: "thumbnail side in pixels"},
			&cli.Int64Flag{Name: "seed", Usage: "sampling seed (headers and thumbnails)"},
			&cli.IntFlag{Name: "max-entries", Value: d.MaxEntries, Usage: "stop listing after this many entries"},
			&cli.IntFlag{Name: "header-sample", Value: d.HeaderSample, Usage: "files whose headers are read for the dimension histogram"},
		}, cliconfig.ClientFlags()...),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("inspect takes one PATH")
			}
			cfg := console.DefaultScanConfig()
			cfg.ThumbsPerClass, cfg.ThumbClasses, cfg.ThumbSize = c.Int("per-class"), c.Int("classes"), c.Int("size")
			cfg.Seed, cfg.MaxEntries, cfg.HeaderSample = c.Int64("seed"), c.Int("max-entries"), c.Int("header-sample")
			if err := cfg.Validate(); err != nil {
				return err
			}
			var thumbs console.Thumbnailer
			if c.String("contact-sheet") != "" {
				ccfg := client.DefaultConfig(c.String("coordinator"))
				if err := cliconfig.ClientSecurity(c, &ccfg); err != nil {
					return err
				}
				cl := client.New(ccfg)
				defer cl.Close()
				thumbs = console.FlightThumbnailer{Client: cl}
			}
			return inspect(c.Context, c.Args().First(), cfg, thumbs, c.String("contact-sheet"), os.Stdout)
		},
	}
}

// inspect scans path, prints its summary and, with a thumbnailer, writes
// the contact sheet to sheetFile and prints where each tile is.
func inspect(ctx context.Context, path string, cfg console.ScanConfig, thumbs console.Thumbnailer, sheetFile string, out io.Writer) error {
	loc, err := hdfsio.ParseLocation(path)
	if err != nil {
		return err
	}
	mounts := &hdfsio.Mounts{DialHDFS: func(ctx context.Context, authority string) (hdfsio.FileSystem, error) {
		return hdfsio.DialHDFS(ctx, authority, hdfsio.DefaultHDFSConfig())
	}}
	fsys, err := mounts.For(ctx, loc)
	if err != nil {
		return err
	}
	s, err := console.Scan(ctx, fsys, loc, cfg, nil)
	if err != nil {
		return err
	}
	var tiles []console.Tile
	if thumbs != nil {
		classes, files := s.Sample(cfg)
		var all []string
		for _, f := range files {
			all = append(all, f...)
		}
		got, err := thumbs.Thumbnails(ctx, all, cfg.ThumbSize)
		if err != nil {
			return err
		}
		var sheet *image.RGBA
		sheet, tiles = console.ContactSheet(classes, files, got, cfg.ThumbSize)
		if err := writeImage(sheetFile, sheet); err != nil {
			return err
		}
		for _, t := range tiles {
			if t.Failure != "" {
				s.AddBroken(strings.TrimPrefix(t.Origin, loc.String()+"/"), t.Origin, "decode: "+t.Failure)
			}
		}
	}
	return printSummary(out, s, cfg, sheetFile, tiles)
}

func writeImage(name string, m image.Image) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".png":
		err = png.Encode(f, m)
	case ".jpg", ".jpeg":
		err = jpeg.Encode(f, m, &jpeg.Options{Quality: 90})
	default:
		err = fmt.Errorf("contact sheet %s: name it .png or .jpg", name)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func printSummary(out io.Writer, s *console.Summary, cfg console.ScanConfig, sheetFile string, tiles []console.Tile) error {
	w := tabwriter.NewWriter(out, 2, 8, 2, ' ', 0)
	listing := "complete"
	if s.Truncated {
		listing = fmt.Sprintf("stopped at %d entries: counts cover what was listed (%d of %d sub-folders not listed completely)", cfg.MaxEntries, s.Unlisted(), len(s.Folders))
	}
	fmt.Fprintf(w, "PATH\t%s\n", s.Base)
	fmt.Fprintf(w, "FILES\t%d (%d bytes)\n", s.Files, s.Bytes)
	fmt.Fprintf(w, "LISTING\t%s\n", listing)
	fmt.Fprintf(w, "SUB-FOLDERS\t%d\n", len(s.Folders))
	section := func(title string, bars []console.Bar) {
		fmt.Fprintf(w, "\n%s\tFILES\t\n", title)
		for _, b := range bars {
			fmt.Fprintf(w, "%s\t%d\t%s\n", b.Label, b.N, strings.Repeat("#", (b.Pct+4)/5))
		}
	}
	for _, p := range s.Partitions {
		section("PARTITION "+p.Column, p.Values)
	}
	if s.ClassBy == "folder" {
		section("SUB-FOLDER", s.Classes)
	}
	section("FORMAT (extension)", s.Formats)
	section("FILE SIZE", s.Sizes)
	section(fmt.Sprintf("LARGER SIDE (headers of %d sampled files)", s.Headers), s.Dims)
	if len(s.Broken) > 0 {
		fmt.Fprintf(w, "\nBROKEN\tWHY\t\n")
		for _, b := range s.Broken {
			fmt.Fprintf(w, "%q\t%s\n", b.Name, b.Reason)
		}
	}
	if sheetFile != "" {
		fmt.Fprintf(w, "\nCONTACT SHEET %s\tCLASS\tX\tY\tW\tH\n", sheetFile)
		for _, t := range tiles {
			r := t.Rect
			fmt.Fprintf(w, "%q\t%s\t%d\t%d\t%d\t%d\n", t.Origin, t.Class, r.Min.X, r.Min.Y, r.Dx(), r.Dy())
		}
	}
	return w.Flush()
}
