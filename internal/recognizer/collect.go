package recognizer

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"time"

	"gocv.io/x/gocv"

	"github.com/gated-dev/gated/internal/liveness"
	"github.com/gated-dev/gated/internal/match"
	"github.com/gated-dev/gated/internal/recognizer/cvutil"
)

// Collector gathers the descriptors of one enrollment from the camera's
// frames: the camera loop hands it each frame (Frame, or Offer with a
// frame's Assessment), and Collect takes good ones, a few frames apart so
// that the templates are not copies of one pose, passing the quality
// advice on each time it changes. Safe for one Collect and a concurrent
// stream of Frames or Offers from one goroutine.
//
// A live Collector (NewLiveCollector, the resident kiosk's) also insists
// on a live person: the frames taken are judged by presentation-attack
// detection when the gate has it, and after them the person must turn
// their head the way they are asked (the head-turn challenge), which no
// flat picture can do (liveness.Pose). It can show the person a small JPEG
// of each frame while it runs (Live.Preview); it never stores one.
type Collector struct {
	samples chan sample
	live    *Live

	// The camera loop's own (one goroutine).
	lastPreview time.Time
}

// Live is what a live Collector needs.
type Live struct {
	// PAD scores a frame's face (livenessnet.Net); nil when the gate has
	// no presentation-attack detection. Decide then judges the frames
	// taken together (liveness.Default.Decide), and Layer names the layer
	// in the refusal (face.liveness).
	PAD    FramePAD
	Decide func([]liveness.Frame) (liveness.Verdict, error)
	Layer  string
	// Turn is the way the person is asked to turn (the caller picks it at
	// random), within TurnWithin (default 5 s) of being asked.
	Turn       liveness.Turn
	TurnWithin time.Duration
	// Preview, when set, is given a JPEG of the frame (PreviewWidth pixels
	// wide, at most one every previewEvery) while the Collector runs, on
	// the camera loop: it must not block, and must not keep the bytes past
	// the capture.
	Preview func(jpeg []byte)
	// Now is the clock for the preview rate (default time.Now).
	Now func() time.Time
	// MaxJump is the largest descriptor distance between two consecutive
	// frames of the turn (the gate's accept threshold): another face put
	// in the place of the one captured jumps further. 0: not checked.
	MaxJump float32
}

// FramePAD scores one face of a frame for presentation-attack detection
// (livenessnet.Net).
type FramePAD interface {
	Frame(bgr gocv.Mat, box image.Rectangle) (liveness.Frame, error)
}

// Progress is where a live capture is, for the person in front of the
// camera.
type Progress struct {
	Problem Problem // what to do about the latest frame (Good: keep going)
	Taken   int     // good frames taken so far
	Want    int     // of how many
	// Turning is set once the frames are taken and the person is asked to
	// turn their head Turn; Turned counts the frames that have.
	Turning bool
	Turn    liveness.Turn
	Turned  int
}

// NotLiveError is a live capture refused: presentation-attack detection
// (Layer is face.liveness) or the head-turn challenge (Layer "challenge")
// did not see a live person. Score is the fused live probability, or for
// the challenge the farthest the head turned the asked way (Pose X).
type NotLiveError struct {
	Layer string
	Score float64
}

func (e *NotLiveError) Error() string {
	return fmt.Sprintf("presentation attack suspected at enrollment layer=%s score=%.3f", e.Layer, e.Score)
}

// LayerChallenge names the head-turn challenge in a NotLiveError.
const LayerChallenge = "challenge"

// sample is what one frame tells a Collector.
type sample struct {
	a       Assessment
	pose    liveness.Pose
	poseErr error           // for the one face; ErrNoPose for dlib's landmarks
	pad     *liveness.Frame // for a Good face, with PAD; nil when it failed
}

// NewCollector returns a Collector ready for frames (staff enrollment from
// the camera: no preview, no challenge).
func NewCollector() *Collector {
	return &Collector{samples: make(chan sample, 64)}
}

// NewLiveCollector returns a live Collector (kiosk enrollment).
func NewLiveCollector(l Live) *Collector {
	if l.TurnWithin <= 0 {
		l.TurnWithin = DefaultTurnWithin
	}
	if l.Now == nil {
		l.Now = time.Now
	}
	c := NewCollector()
	c.live = &l
	return c
}

// DefaultTurnWithin is how long the head-turn challenge waits for the turn.
const DefaultTurnWithin = 5 * time.Second

// PreviewWidth is the width of the preview JPEGs; previewEvery is their
// least interval (10 a second at most): encoding costs the camera loop
// about a millisecond each.
const (
	PreviewWidth = 320
	previewEvery = 100 * time.Millisecond
)

// Offer hands over one frame's assessment; it never blocks. It carries no
// pose: a live Collector is fed with Frame.
func (c *Collector) Offer(a Assessment) {
	c.put(sample{a: a, poseErr: ErrNoPose})
}

func (c *Collector) put(s sample) {
	select {
	case c.samples <- s:
	default: // Collect is behind: the frame is dropped
	}
}

// Frame hands over one camera frame and the faces found in it (the camera
// loop's); it never blocks on Collect. The frame is only read here.
func (c *Collector) Frame(frame gocv.Mat, faces []Face) {
	l := c.live
	if l != nil && l.Preview != nil {
		if now := l.Now(); now.Sub(c.lastPreview) >= previewEvery {
			c.lastPreview = now
			if b, err := PreviewJPEG(frame); err == nil {
				l.Preview(b)
			}
		}
	}
	s := sample{a: EnrollAssess(frame, faces), poseErr: ErrNoPose}
	if len(faces) == 1 {
		s.pose, s.poseErr = faces[0].Pose()
	}
	if l != nil && l.PAD != nil && len(faces) == 1 {
		// Every frame of one face, the turn's included: the frames that
		// answer the challenge are judged live too.
		if f, err := l.PAD.Frame(frame, faces[0].Rect); err == nil {
			s.pad = &f
		}
	}
	c.put(s)
}

// PreviewJPEG is frame scaled to PreviewWidth pixels wide (never up), as a
// JPEG of middling quality: what the kiosk shows while it captures.
func PreviewJPEG(frame gocv.Mat) ([]byte, error) {
	bgr, err := ToBGR(frame)
	if err != nil {
		return nil, err
	}
	if bgr.Ptr() != frame.Ptr() {
		defer bgr.Close()
	}
	small := gocv.NewMat()
	defer small.Close()
	src := bgr
	if bgr.Cols() > PreviewWidth {
		if err := cvutil.Scale(bgr, &small, float64(PreviewWidth)/float64(bgr.Cols())); err != nil {
			return nil, fmt.Errorf("recognizer: preview: %w", err)
		}
		src = small
	}
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, src, []int{gocv.IMWriteJpegQuality, 70})
	if err != nil {
		return nil, fmt.Errorf("recognizer: preview: %w", err)
	}
	defer buf.Close()
	return append([]byte(nil), buf.GetBytes()...), nil
}

// collectGap is how many good frames are passed over between two taken.
const collectGap = 2

// Collect waits for n good descriptors, or until ctx ends, reporting
// advice through tips (may be nil). It is for a Collector of NewCollector:
// a live one is collected with CollectLive.
func (c *Collector) Collect(ctx context.Context, n int, tips func(Problem)) ([][]float32, error) {
	if c.live != nil {
		return nil, errors.New("recognizer: a live capture is collected with CollectLive")
	}
	var p func(Progress)
	if tips != nil {
		p = func(pr Progress) {
			if pr.Problem != Good {
				tips(pr.Problem)
			}
		}
	}
	out, _, err := c.frontal(ctx, n, p)
	return out, err
}

// taken is a frame Collect took.
type taken struct {
	vec  []float32
	box  image.Rectangle
	pose liveness.Pose
	pad  *liveness.Frame
}

// frontal takes n good frames, collectGap apart; progress (may be nil)
// hears each change of advice and each frame taken. A live Collector
// takes only frames with a head pose.
func (c *Collector) frontal(ctx context.Context, n int, progress func(Progress)) ([][]float32, []taken, error) {
	var out [][]float32
	var got []taken
	skip := 0
	last := Good
	tell := func(p Problem) {
		if progress != nil {
			progress(Progress{Problem: p, Taken: len(out), Want: n})
		}
	}
	for len(out) < n {
		var s sample
		select {
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("only %d of %d good frames: %w", len(out), n, ctx.Err())
		case s = <-c.samples:
		}
		if s.a.Problem != Good {
			if s.a.Problem != last {
				last = s.a.Problem
				tell(last)
			}
			continue
		}
		if c.live != nil && s.poseErr != nil {
			if errors.Is(s.poseErr, ErrNoPose) {
				return nil, nil, s.poseErr
			}
			continue // landmarks no pose can be taken from: not this frame
		}
		if skip > 0 {
			skip--
			continue
		}
		if c.live != nil && len(got) > 0 {
			prev := got[len(got)-1]
			if iou(prev.box, s.a.Face.Rect) < minIoU || math.Abs(prev.pose.X-s.pose.X) > steadyPose {
				// Another face, elsewhere, or another pose (a photo
				// swapped for another): the frames the turn is
				// measured from must be one still face. Start again.
				out, got = out[:0], got[:0]
			}
		}
		out = append(out, s.a.Face.Descriptor)
		got = append(got, taken{vec: s.a.Face.Descriptor, box: s.a.Face.Rect, pose: s.pose, pad: s.pad})
		skip = collectGap
		last = Good
		tell(Good)
	}
	return out, got, nil
}

// steadyPose is how far in Pose X two frames taken for one live capture
// may differ: half of liveness.TurnMin, so that no turn hides in the
// baseline.
const steadyPose = liveness.TurnMin / 2

// turnsNeeded is how many frames must show the head turned the asked way.
const turnsNeeded = 2

// minIoU is how much of the face's box a frame of the turn must share with
// the box of the frames taken: the same face, where it was.
const minIoU = 0.3

// CollectLive takes n good frames as Collect does, then judges them live:
// by presentation-attack detection when the Collector has it (refused:
// *NotLiveError with its layer), then by the head-turn challenge, always
// (refused: *NotLiveError with LayerChallenge). A detector that gives no
// head pose (dlib's) is ErrNoPose. progress (may be nil) hears each step.
func (c *Collector) CollectLive(ctx context.Context, n int, progress func(Progress)) ([][]float32, error) {
	l := c.live
	if l == nil {
		return nil, errors.New("recognizer: CollectLive needs a Collector of NewLiveCollector")
	}
	out, got, err := c.frontal(ctx, n, progress)
	if err != nil {
		return nil, err
	}
	if l.PAD != nil {
		frames := make([]liveness.Frame, 0, len(got))
		for _, g := range got {
			if g.pad == nil {
				// A frame PAD could not judge: fail closed.
				return nil, &NotLiveError{Layer: l.Layer, Score: 0}
			}
			frames = append(frames, *g.pad)
		}
		v, err := l.Decide(frames)
		if err != nil || !v.Live {
			return nil, &NotLiveError{Layer: l.Layer, Score: v.Score}
		}
	}
	return out, c.challenge(ctx, got, progress)
}

// challenge asks for the head turn and waits for turnsNeeded frames of the
// same face, where the taken frames had it, turned the asked way from
// their mean pose by liveness.TurnMin. Each frame must follow from the one
// before (its pose within liveness.MaxStep, its descriptor within
// Live.MaxJump): the turn is a path, not a photo swapped for its mirror
// image or another face put in its place, which are refused at once.
// Several faces start the count again. With PAD, the turned frames are
// judged live together as the frames taken were.
func (c *Collector) challenge(ctx context.Context, got []taken, progress func(Progress)) error {
	l := c.live
	var base liveness.Pose
	for _, g := range got {
		base.X += g.pose.X / float64(len(got))
		base.Y += g.pose.Y / float64(len(got))
	}
	box := got[len(got)-1].box
	p := Progress{Taken: len(got), Want: len(got), Turning: true, Turn: l.Turn}
	tell := func() {
		if progress != nil {
			progress(p)
		}
	}
	tell()
	timer := time.NewTimer(l.TurnWithin)
	defer timer.Stop()
	best := 0.0 // how far the head went the asked way
	last, lastVec := got[len(got)-1].pose, got[len(got)-1].vec
	var pads []liveness.Frame
	var unjudged bool
	for {
		var s sample
		select {
		case <-ctx.Done():
			return &NotLiveError{Layer: LayerChallenge, Score: best}
		case <-timer.C:
			return &NotLiveError{Layer: LayerChallenge, Score: best}
		case s = <-c.samples:
		}
		switch {
		case s.a.Problem == NoFace:
			continue
		case s.a.Problem == SeveralFaces || iou(s.a.Face.Rect, box) < minIoU:
			p.Turned = 0 // someone else, or a face elsewhere
			tell()
			continue
		case s.poseErr != nil:
			continue
		}
		if !liveness.Continuous(last, s.pose) || (l.MaxJump > 0 && jumped(lastVec, s.a.Face.Descriptor, l.MaxJump)) {
			return &NotLiveError{Layer: LayerChallenge, Score: best}
		}
		last, lastVec = s.pose, s.a.Face.Descriptor
		dx := s.pose.X - base.X
		if l.Turn == liveness.TurnRight {
			dx = -dx
		}
		best = max(best, dx)
		if liveness.Turned(l.Turn, base, s.pose, liveness.TurnMin) {
			p.Turned++
			if s.pad == nil {
				unjudged = true
			} else {
				pads = append(pads, *s.pad)
			}
			tell()
			if p.Turned >= turnsNeeded {
				if l.PAD == nil {
					return nil
				}
				if unjudged {
					return &NotLiveError{Layer: l.Layer, Score: 0} // fail closed
				}
				if v, err := l.Decide(pads); err != nil || !v.Live {
					return &NotLiveError{Layer: l.Layer, Score: v.Score}
				}
				return nil
			}
		}
	}
}

// jumped says whether descriptor b is at least limit from a, the frame
// before: a face replaced, not turned. Descriptors of different lengths (a
// frame without one) count as a jump, so the challenge fails closed.
func jumped(a, b []float32, limit float32) bool {
	return len(a) != len(b) || match.Distance(a, b) >= limit
}

// iou is the intersection of two boxes over their union.
func iou(a, b image.Rectangle) float64 {
	in := a.Intersect(b)
	ai := float64(in.Dx() * in.Dy())
	u := float64(a.Dx()*a.Dy()+b.Dx()*b.Dy()) - ai
	if u <= 0 {
		return 0
	}
	return ai / u
}
