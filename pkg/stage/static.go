package stage

// FixedShape is the shape every image has after stages, known before any
// image is seen: the height and width fixed by the last size-setting
// stages, and the tensor's channels (1 when the last colour conversion is
// to gray, else 3: toTensor drops alpha). ok is false when the size depends
// on the input (no resize to fixed sides, or a centercrop larger than what
// precedes it guarantees). A tensor column needs a fixed shape.
func FixedShape(stages []Stage) (h, w, c int, ok bool) {
	c = 3
	minSide := 0 // every side is at least this (a keep-aspect resize)
	known := false
	for _, st := range stages {
		switch s := st.(type) {
		case Resize:
			switch {
			case s.Size == 0:
				h, w, known, minSide = s.Height, s.Width, true, 0
			case !s.KeepAspectRatio:
				h, w, known, minSide = s.Size, s.Size, true, 0
			default:
				known, minSide = false, s.Size
			}
		case Crop:
			h, w, known, minSide = s.Height, s.Width, true, 0
		case CenterCrop:
			switch {
			case known:
				h, w = min(h, s.Height), min(w, s.Width)
			case minSide >= max(s.Height, s.Width):
				h, w, known, minSide = s.Height, s.Width, true, 0
			default:
				minSide = 0
			}
		case ColorFormat:
			if s.Conv().ToCn == 1 {
				c = 1
			} else {
				c = 3
			}
		}
	}
	return h, w, c, known
}

// FastStages rewrites stages for an image decoded smaller than its h×w
// (JPEG DCT scaling, see ShrinkFactor): the first resize gets the explicit
// size it would compute from the full image, so the output's shape does
// not depend on the decode's rounding.
func FastStages(stages []Stage, h, w int) []Stage {
	r, ok := stages[0].(Resize)
	if !ok {
		return stages
	}
	th, tw := r.Target(h, w)
	return append([]Stage{Resize{Height: th, Width: tw, Interpolation: r.Interpolation}}, stages[1:]...)
}
