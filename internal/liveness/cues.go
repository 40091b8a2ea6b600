package liveness

import (
	"image"
	"math"
	"math/cmplx"
)

// Crops are the pixels the cues look at, cut from one frame around one face
// (internal/recognizer/livenessnet cuts them).
type Crops struct {
	// Context is ContextRect's region of the frame, scaled to ContextSide
	// pixels on its longer side.
	Context *image.RGBA
	// Face is the face box in Context's coordinates.
	Face image.Rectangle
	// Whole is the whole frame in grey, scaled to ContextSide pixels on its
	// longer side, and WholeFace the face box in it: a monitor's bezel
	// lies outside the context crop.
	Whole     *image.Gray
	WholeFace image.Rectangle
	// Skin is a MoireSide x MoireSide square from the middle of the face at
	// the camera's own resolution (never scaled: scaling erases moire).
	Skin *image.Gray
}

// ContextSide is the longer side of Crops.Context.
const ContextSide = 160

// MoireSide is the side of Crops.Skin (a power of two).
const MoireSide = 64

// Cues fills the cue fields of a Frame from its crops; Net is left alone.
func Cues(c Crops, f Frame) Frame {
	if c.Context != nil {
		g := Grey(c.Context)
		f.Edges, f.Rect = edgeScores(g, c.Face)
		f.Glare = GlareScore(c.Context, c.Face)
		f.Sat = SaturationScore(c.Context, c.Face)
	}
	if c.Whole != nil {
		f.Wide, f.WideRect = edgeScores(c.Whole, c.WholeFace)
	}
	if c.Skin != nil {
		f.Moire = MoireScore(c.Skin)
		f.Sharp = SharpnessScore(c.Skin)
	}
	return f
}

// Grey is the luma of an RGBA image (BT.601 weights).
func Grey(m *image.RGBA) *image.Gray {
	b := m.Bounds()
	g := image.NewGray(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			i := m.PixOffset(x, y)
			r, gg, bb := int(m.Pix[i]), int(m.Pix[i+1]), int(m.Pix[i+2])
			g.Pix[g.PixOffset(x, y)] = uint8((299*r + 587*gg + 114*bb + 500) / 1000)
		}
	}
	return g
}

// EdgeScore is the straight-edge evidence of a bezel or a paper sheet in g
// outside the face box: the length of the longest straight line of strong,
// consistently oriented gradient (a Hough peak over Sobel edges voting
// only along their own orientation), as a share of g's longer side. A
// live face in front of a wall also has straight lines (door frames):
// the cue is measured, not assumed (docs/liveness.md).
func EdgeScore(g *image.Gray, face image.Rectangle) float64 {
	e, _ := edgeScores(g, face)
	return e
}

// RectScore is the corner evidence of a bezel or sheet: over every
// orientation, the shorter of the longest straight line at that
// orientation and the longest one perpendicular to it, as a share of g's
// longer side (a rectangle's two sides; one door frame is not enough).
func RectScore(g *image.Gray, face image.Rectangle) float64 {
	_, r := edgeScores(g, face)
	return r
}

func edgeScores(g *image.Gray, face image.Rectangle) (edges, rect float64) {
	b := g.Bounds()
	w, h := b.Dx(), b.Dy()
	if w < 8 || h < 8 {
		return 0, 0
	}
	// Leave out the face and a margin around it: its outline is no bezel.
	mx, my := face.Dx()/8, face.Dy()/8
	skip := image.Rect(face.Min.X-mx, face.Min.Y-my, face.Max.X+mx, face.Max.Y+my).Sub(b.Min)
	const nTheta = 90 // 2 degrees a bin
	diag := int(math.Ceil(math.Hypot(float64(w), float64(h))))
	nRho := 2*diag + 1
	acc := make([]int32, nTheta*nRho)
	var cosT, sinT [nTheta]float64
	for t := range nTheta {
		a := float64(t) * math.Pi / nTheta
		cosT[t], sinT[t] = math.Cos(a), math.Sin(a)
	}
	at := func(x, y int) int { return int(g.Pix[(y)*g.Stride+x]) }
	const minMag = 48 // Sobel magnitude (of 4*255): a clear step, not texture
	for y := 1; y < h-1; y++ {
		for x := 1; x < w-1; x++ {
			if (image.Point{x, y}).In(skip) {
				continue
			}
			gx := at(x+1, y-1) + 2*at(x+1, y) + at(x+1, y+1) - at(x-1, y-1) - 2*at(x-1, y) - at(x-1, y+1)
			gy := at(x-1, y+1) + 2*at(x, y+1) + at(x+1, y+1) - at(x-1, y-1) - 2*at(x, y-1) - at(x+1, y-1)
			if gx*gx+gy*gy < minMag*minMag {
				continue
			}
			// The line's normal is the gradient direction, in [0, pi).
			a := math.Atan2(float64(gy), float64(gx))
			if a < 0 {
				a += math.Pi
			}
			t0 := int(math.Round(a / math.Pi * nTheta))
			for dt := -2; dt <= 2; dt++ {
				t := (t0 + dt + nTheta) % nTheta
				rho := int(math.Round(float64(x)*cosT[t]+float64(y)*sinT[t])) + diag
				acc[t*nRho+rho]++
			}
		}
	}
	var best int32
	var colMax [nTheta]int32
	for t := range nTheta {
		for _, v := range acc[t*nRho : (t+1)*nRho] {
			colMax[t] = max(colMax[t], v)
		}
		best = max(best, colMax[t])
	}
	var pair int32
	for t := range nTheta {
		perp := max(colMax[(t+nTheta/2-1)%nTheta], colMax[(t+nTheta/2)%nTheta], colMax[(t+nTheta/2+1)%nTheta])
		pair = max(pair, min(colMax[t], perp))
	}
	side := float64(max(w, h))
	return float64(best) / side, float64(pair) / side
}

// SaturationScore is the mean colour saturation, (max-min)/max of R,G,B,
// inside the face box: a face shown on a screen or printed is rendered
// through another device's gamut and usually loses or gains saturation.
func SaturationScore(m *image.RGBA, face image.Rectangle) float64 {
	r := face.Intersect(m.Bounds())
	var sum float64
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			i := m.PixOffset(x, y)
			hi := max(m.Pix[i], m.Pix[i+1], m.Pix[i+2])
			lo := min(m.Pix[i], m.Pix[i+1], m.Pix[i+2])
			if hi > 0 {
				sum += float64(hi-lo) / float64(hi)
			}
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

// SharpnessScore is the log of the mean squared Laplacian of a square of
// skin at camera resolution, over its mean brightness squared: a face
// recaptured from a screen or print has lost fine detail.
func SharpnessScore(g *image.Gray) float64 {
	b := g.Bounds()
	w, h := b.Dx(), b.Dy()
	if w < 3 || h < 3 {
		return 0
	}
	at := func(x, y int) float64 { return float64(g.Pix[y*g.Stride+x]) }
	var lap, mean float64
	for y := 1; y < h-1; y++ {
		for x := 1; x < w-1; x++ {
			l := 4*at(x, y) - at(x-1, y) - at(x+1, y) - at(x, y-1) - at(x, y+1)
			lap += l * l
			mean += at(x, y)
		}
	}
	n := float64((w - 2) * (h - 2))
	mean /= n
	return math.Log((lap/n + 1) / (mean*mean + 1))
}

// GlareScore is the share of the context, outside the face box, that is
// flat saturated highlight (every channel at least 250): the specular
// reflection of a light on glass or glossy paper. Overexposed skies and
// lamps count too; the cue is measured, not assumed.
func GlareScore(m *image.RGBA, face image.Rectangle) float64 {
	b := m.Bounds()
	n, hot := 0, 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if (image.Point{x, y}).In(face) {
				continue
			}
			n++
			i := m.PixOffset(x, y)
			if m.Pix[i] >= 250 && m.Pix[i+1] >= 250 && m.Pix[i+2] >= 250 {
				hot++
			}
		}
	}
	if n == 0 {
		return 0
	}
	return float64(hot) / float64(n)
}

// MoireScore is the periodic high-frequency energy of a square of skin at
// the camera's resolution: the log of the strongest spectral peak's power
// over the mean power in the outer half of the spectrum (Hann-windowed 2-D
// FFT). A screen's pixel grid beating against the camera's sensor gives
// sharp peaks there; skin and paper give a smooth fall-off. g must be
// square with a power-of-two side; anything else scores 0.
func MoireScore(g *image.Gray) float64 {
	b := g.Bounds()
	n := b.Dx()
	if n != b.Dy() || n < 8 || n&(n-1) != 0 {
		return 0
	}
	var mean float64
	for y := range n {
		for x := range n {
			mean += float64(g.Pix[y*g.Stride+x])
		}
	}
	mean /= float64(n * n)
	win := make([]float64, n)
	for i := range n {
		win[i] = 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(n-1))
	}
	rows := make([][]complex128, n)
	for y := range n {
		r := make([]complex128, n)
		for x := range n {
			r[x] = complex((float64(g.Pix[y*g.Stride+x])-mean)*win[x]*win[y], 0)
		}
		fft(r)
		rows[y] = r
	}
	col := make([]complex128, n)
	var peak, sum float64
	cnt := 0
	for x := range n {
		for y := range n {
			col[y] = rows[y][x]
		}
		fft(col)
		fx := x
		if fx > n/2 {
			fx -= n
		}
		for y := range n {
			fy := y
			if fy > n/2 {
				fy -= n
			}
			r := math.Hypot(float64(fx), float64(fy))
			if r < float64(n)/4 {
				continue
			}
			p := real(col[y])*real(col[y]) + imag(col[y])*imag(col[y])
			peak = math.Max(peak, p)
			sum += p
			cnt++
		}
	}
	if cnt == 0 || sum <= 0 {
		return 0
	}
	return math.Log(peak / (sum / float64(cnt)))
}

// fft is an in-place radix-2 Cooley-Tukey transform; len(a) is a power of
// two.
func fft(a []complex128) {
	n := len(a)
	for i, j := 1, 0; i < n; i++ {
		bit := n >> 1
		for ; j&bit != 0; bit >>= 1 {
			j ^= bit
		}
		j ^= bit
		if i < j {
			a[i], a[j] = a[j], a[i]
		}
	}
	for size := 2; size <= n; size <<= 1 {
		w := cmplx.Exp(complex(0, -2*math.Pi/float64(size)))
		for start := 0; start < n; start += size {
			wk := complex(1, 0)
			for k := range size / 2 {
				u, v := a[start+k], a[start+k+size/2]*wk
				a[start+k], a[start+k+size/2] = u+v, u-v
				wk *= w
			}
		}
	}
}
