package console

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"regexp"
	"sync"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/imageflight/imageflight/pkg/client"
	"github.com/imageflight/imageflight/pkg/imagerow"
	"github.com/imageflight/imageflight/pkg/wire"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// FlightThumbnailer makes thumbnails through a cluster: one Flight read of
// the files with a resize (shorter side to size) and a centre crop, so the
// workers decode — at reduced DCT scale for JPEG — and only size×size
// pixels cross the network.
type FlightThumbnailer struct {
	Client *client.Client
}

// ThumbnailStages are the transforms of a thumbnail read.
func ThumbnailStages(size int) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`[{"action": "resize", "size": %d, "keepAspectRatio": true}, {"action": "centercrop", "height": %d, "width": %d}]`, size, size, size))
}

// Thumbnails implements Thumbnailer.
func (t FlightThumbnailer) Thumbnails(ctx context.Context, files []string, size int) ([]Thumb, error) {
	req := wire.Descriptor{Paths: files, NumPartitions: -1, SampleRatio: 1, Transforms: ThumbnailStages(size), FastResize: true, FailureReasons: true}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	info, err := t.Client.Plan(ctx, req.Command())
	if err != nil {
		return nil, fmt.Errorf("plan thumbnails: %w", err)
	}
	var (
		mu  sync.Mutex
		out []Thumb
	)
	_, err = t.Client.ReadAll(ctx, info, func(b client.Batch) error {
		rec := b.Record
		img := rec.Column(0).(*array.Struct)
		var failure *array.String
		for i, f := range rec.Schema().Fields() {
			if f.Name == "failure" {
				failure, _ = rec.Column(i).(*array.String)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		for i := 0; i < int(rec.NumRows()); i++ {
			r := imagerow.At(img, i)
			th := Thumb{Origin: r.Origin}
			switch {
			case !r.Valid():
				th.Failure = "undecodable"
				if failure != nil && failure.IsValid(i) {
					th.Failure = failure.Value(i)
				}
			default:
				m, rerr := RowImage(r)
				if rerr != nil {
					th.Failure = rerr.Error()
				}
				th.Image = m
			}
			out = append(out, th)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read thumbnails: %w", err)
	}
	return out, nil
}

// RowImage turns a Spark image row (B, G, R[, A] or gray, 8-bit) into an
// image; its pixels are copied.
func RowImage(r imagerow.Row) (image.Image, error) {
	h, w, c := int(r.Height), int(r.Width), int(r.NChannels)
	if h <= 0 || w <= 0 || len(r.Data) != h*w*c {
		return nil, fmt.Errorf("row of %dx%dx%d has %d bytes", w, h, c, len(r.Data))
	}
	switch c {
	case 1:
		g := image.NewGray(image.Rect(0, 0, w, h))
		copy(g.Pix, r.Data)
		return g, nil
	case 3, 4:
		m := image.NewNRGBA(image.Rect(0, 0, w, h))
		for i, j := 0, 0; i < len(r.Data); i, j = i+c, j+4 {
			m.Pix[j], m.Pix[j+1], m.Pix[j+2], m.Pix[j+3] = r.Data[i+2], r.Data[i+1], r.Data[i], 255
			if c == 4 {
				m.Pix[j+3] = r.Data[i+3]
			}
		}
		return m, nil
	}
	return nil, fmt.Errorf("rows of %d channels are not shown", c)
}

// DataURI encodes an image as a JPEG data: URI (quality 85: a 96-pixel
// thumbnail takes a few KB).
func DataURI(m image.Image) (string, error) {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, m, &jpeg.Options{Quality: 85}); err != nil {
		return "", err
	}
	return "data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// Tile is where one file's thumbnail sits on a contact sheet.
type Tile struct {
	Class, Origin string
	Rect          image.Rectangle // the thumbnail's pixels
	Failure       string
}

// Sheet layout: one row per class, a label line under each row's tiles.
const (
	sheetPad   = 8
	labelWidth = 120
	lineHeight = 16
)

// ContactSheet lays out one row of thumbnails per class, labelled with the
// class and each file's name; a failed file's tile is grey, marked broken. Tiles says
// where each thumbnail landed.
func ContactSheet(classes []string, files [][]string, thumbs []Thumb, size int) (*image.RGBA, []Tile) {
	by := map[string]Thumb{}
	for _, t := range thumbs {
		by[t.Origin] = t
	}
	cols := 1
	for _, f := range files {
		cols = max(cols, len(f))
	}
	cell := size + sheetPad
	rowH := size + lineHeight + sheetPad
	sheet := image.NewRGBA(image.Rect(0, 0, labelWidth+cols*cell+sheetPad, len(classes)*rowH+sheetPad))
	draw.Draw(sheet, sheet.Bounds(), image.White, image.Point{}, draw.Src)
	var tiles []Tile
	for i, class := range classes {
		y := sheetPad + i*rowH
		label(sheet, sheetPad, y+size/2, class, labelWidth-sheetPad)
		for j, f := range files[i] {
			r := image.Rect(labelWidth+j*cell, y, labelWidth+j*cell+size, y+size)
			t := Tile{Class: class, Origin: f}
			if th, ok := by[f]; ok && th.Image != nil {
				b := th.Image.Bounds()
				t.Rect = image.Rectangle{Min: r.Min, Max: r.Min.Add(b.Size())}
				draw.Draw(sheet, t.Rect, th.Image, b.Min, draw.Src)
			} else {
				t.Failure = "no thumbnail"
				if ok {
					t.Failure = th.Failure
				}
				draw.Draw(sheet, r, image.NewUniform(color.Gray{Y: 200}), image.Point{}, draw.Src)
				label(sheet, r.Min.X+4, r.Min.Y+size/2, "broken", size-8)
			}
			label(sheet, r.Min.X, r.Max.Y+lineHeight-4, baseName(f), size)
			tiles = append(tiles, t)
		}
	}
	return sheet, tiles
}

// label draws text in the 7x13 bitmap font, cut to width pixels.
func label(dst draw.Image, x, y int, text string, width int) {
	face := basicfont.Face7x13
	if n := width / 7; len([]rune(text)) > n {
		text = string([]rune(text)[:max(n-1, 0)]) + "~"
	}
	d := font.Drawer{Dst: dst, Src: image.Black, Face: face, Dot: fixed.P(x, y)}
	d.DrawString(text)
}

func baseName(uri string) string {
	for i := len(uri) - 1; i >= 0; i-- {
		if uri[i] == '/' {
			return uri[i+1:]
		}
	}
	return uri
}

var pageThumb = regexp.MustCompile(`<img src="data:image/jpeg;base64,([^"]+)"`)

// PageThumbnails decodes the thumbnails a rendered page embeds (DataURI's
// inverse), in page order: what a browser shows, for tests and tools.
func PageThumbnails(page string) ([]image.Image, error) {
	var out []image.Image
	for _, m := range pageThumb.FindAllStringSubmatch(page, -1) {
		raw, err := base64.StdEncoding.DecodeString(html.UnescapeString(m[1]))
		if err != nil {
			return out, fmt.Errorf("thumbnail %d: %w", len(out), err)
		}
		img, err := jpeg.Decode(bytes.NewReader(raw))
		if err != nil {
			return out, fmt.Errorf("thumbnail %d: %w", len(out), err)
		}
		out = append(out, img)
	}
	return out, nil
}
