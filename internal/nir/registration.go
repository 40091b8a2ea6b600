package nir

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"time"
)

// Setting is the name of the store setting (store.DB.SetSetting) that
// holds the registration: in the encrypted store, so it survives restarts
// and restores with the store's backups, and every change is audited with
// the staff member who made it.
const Setting = "camera.nir.registration"

// Version is the registration format this code reads.
const Version = 1

// Registration is the colour-to-NIR map of one gate's camera pair, as
// `gated camera nir-register` fitted it.
type Registration struct {
	Version int        `json:"version"`
	Map     Similarity `json:"map"`
	// Residual is the fit's RMS distance in NIR pixels between the NIR
	// face boxes' corners and the mapped colour ones.
	Residual float64 `json:"residual_px"`
	// Pairs is how many frame pairs it was fitted on.
	Pairs int `json:"pairs"`
	// Colour and NIR are the frame sizes it was fitted at: a camera whose
	// frame size changed since needs registering again.
	Colour image.Point `json:"colour_size"`
	NIR    image.Point `json:"nir_size"`
	At     time.Time   `json:"at"`
	By     string      `json:"by"`
}

// BoxPair is one face seen by both cameras at the same moment.
type BoxPair struct{ Colour, NIR image.Rectangle }

// Limits of a registration Register accepts (and Decode reads back).
const (
	// MinPairs is the fewest frame pairs a registration is fitted on.
	MinPairs = 5
	// MaxResidualShare is the largest RMS residual as a share of the mean
	// NIR face side: 5% leaves a registered box an IoU of about 0.8 with
	// the true one, well above MinIoU.
	MaxResidualShare = 0.05
	// MinSpread is the least RMS distance in colour pixels of the box
	// corners from their centroid: points all at one place fix no map.
	MinSpread = 10
	// Scale and rotation a side-by-side camera pair can have.
	MinScale, MaxScale = 0.2, 5.0
	MaxRotation        = 20.0 // degrees
	maxSide            = 8192
	maxEncoded         = 4 << 10
)

// Register fits the registration (FitScaleShift) of pairs of boxes (the
// four corners of each), taken with frames of the given sizes, and refuses a fit that is
// degenerate (too few pairs, points at one place, an implausible scale or
// rotation) or poor (residual over MaxResidualShare of the NIR face side).
func Register(pairs []BoxPair, colour, nirSize image.Point) (Registration, error) {
	if len(pairs) < MinPairs {
		return Registration{}, fmt.Errorf("%w: %d frame pairs with one face in each, want %d or more", ErrFit, len(pairs), MinPairs)
	}
	var src, dst []Point
	var side float64
	for i, p := range pairs {
		if p.Colour.Empty() || p.NIR.Empty() || !p.Colour.In(image.Rectangle{Max: colour}) || !p.NIR.In(image.Rectangle{Max: nirSize}) {
			return Registration{}, fmt.Errorf("%w: pair %d: box %v / %v is empty or outside its frame", ErrFit, i, p.Colour, p.NIR)
		}
		c, n := corners(p.Colour), corners(p.NIR)
		src, dst = append(src, c[:]...), append(dst, n[:]...)
		side += float64(p.NIR.Dx()+p.NIR.Dy()) / 2
	}
	side /= float64(len(pairs))
	if s := spread(src); s < MinSpread {
		return Registration{}, fmt.Errorf("%w: the colour faces span %.1f px, want %d or more: the fit would be degenerate", ErrFit, s, MinSpread)
	}
	m, res, err := FitScaleShift(src, dst)
	if err != nil {
		return Registration{}, err
	}
	r := Registration{Version: Version, Map: m, Residual: res, Pairs: len(pairs), Colour: colour, NIR: nirSize}
	if err := r.plausible(); err != nil {
		return Registration{}, err
	}
	if res > MaxResidualShare*side {
		return Registration{}, fmt.Errorf("%w: residual %.1f px is over %.0f%% of the NIR face side (%.0f px): the two cameras did not see the same face the same way (one person only, standing still, both cameras fixed)",
			ErrFit, res, 100*MaxResidualShare, side)
	}
	return r, nil
}

func spread(ps []Point) float64 {
	var mx, my float64
	for _, p := range ps {
		mx, my = mx+p.X, my+p.Y
	}
	n := float64(len(ps))
	mx, my = mx/n, my/n
	var s float64
	for _, p := range ps {
		s += (p.X-mx)*(p.X-mx) + (p.Y-my)*(p.Y-my)
	}
	return math.Sqrt(s / n)
}

// plausible checks what any registration must be, fitted or read back.
func (r Registration) plausible() error {
	for _, v := range []float64{r.Map.A, r.Map.B, r.Map.TX, r.Map.TY, r.Residual} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: a value is not finite", ErrFit)
		}
	}
	if s := r.Map.Scale(); s < MinScale || s > MaxScale {
		return fmt.Errorf("%w: scale %.3f is outside %.1f-%.1f: not two cameras side by side seeing one face", ErrFit, s, MinScale, MaxScale)
	}
	if a := math.Abs(r.Map.Rotation()); a > MaxRotation {
		return fmt.Errorf("%w: rotation %.1f degrees is over %.0f: mount the cameras the same way up", ErrFit, a, MaxRotation)
	}
	if math.Abs(r.Map.TX) > 4*maxSide || math.Abs(r.Map.TY) > 4*maxSide {
		return fmt.Errorf("%w: shift (%.0f, %.0f) is beyond any frame", ErrFit, r.Map.TX, r.Map.TY)
	}
	for _, p := range []image.Point{r.Colour, r.NIR} {
		if p.X < 1 || p.Y < 1 || p.X > maxSide || p.Y > maxSide {
			return fmt.Errorf("%w: frame size %v", ErrFit, p)
		}
	}
	if r.Residual < 0 || r.Pairs < MinPairs || r.Pairs > 10000 {
		return fmt.Errorf("%w: residual %v over %d pairs", ErrFit, r.Residual, r.Pairs)
	}
	return nil
}

// ErrDamaged is wrapped by Decode's errors: the stored registration cannot
// be used, and the NIR check fails closed until staff register again.
var ErrDamaged = errors.New("nir: stored registration unusable")

// sealed is the stored form: the registration and the SHA-256 of its
// JSON, so that a value damaged or edited outside the command is refused,
// never silently used.
type sealed struct {
	Registration json.RawMessage `json:"registration"`
	SHA256       string          `json:"sha256"`
}

// Encode is the stored form of r (after checking it).
func Encode(r Registration) ([]byte, error) {
	if r.Version != Version {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrFit, r.Version, Version)
	}
	if err := r.plausible(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("nir: encode registration: %w", err)
	}
	return seal(b)
}

func seal(b []byte) ([]byte, error) {
	sum := sha256.Sum256(b)
	return json.Marshal(sealed{Registration: b, SHA256: hex.EncodeToString(sum[:])})
}

// Decode reads a stored registration back, refusing (ErrDamaged) anything
// Encode did not write: over 4 KiB, not JSON, unknown fields, a checksum
// that does not match, another version, or values no fit could have.
func Decode(b []byte) (Registration, error) {
	if len(b) > maxEncoded {
		return Registration{}, fmt.Errorf("%w: %d bytes, want at most %d", ErrDamaged, len(b), maxEncoded)
	}
	var s sealed
	if err := strict(b, &s); err != nil {
		return Registration{}, fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	sum := sha256.Sum256(s.Registration)
	if hex.EncodeToString(sum[:]) != s.SHA256 {
		return Registration{}, fmt.Errorf("%w: its checksum does not match (damaged or edited)", ErrDamaged)
	}
	var r Registration
	if err := strict(s.Registration, &r); err != nil {
		return Registration{}, fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	if r.Version != Version {
		return Registration{}, fmt.Errorf("%w: version %d, this gated reads %d", ErrDamaged, r.Version, Version)
	}
	if err := r.plausible(); err != nil {
		return Registration{}, fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	return r, nil
}

func strict(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if _, err := d.Token(); err != io.EOF {
		return errors.New("trailing data")
	}
	return nil
}

// String describes the registration for staff.
func (r Registration) String() string {
	return fmt.Sprintf("scale %.3f, rotation %.1f degrees, shift (%.1f, %.1f) px, residual %.2f px over %d frame pairs (colour %dx%d, NIR %dx%d)",
		r.Map.Scale(), r.Map.Rotation(), r.Map.TX, r.Map.TY, r.Residual, r.Pairs, r.Colour.X, r.Colour.Y, r.NIR.X, r.NIR.Y)
}
