package yunet

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"
)

// grid returns an all-zero head for stride s over a padW x padH input
// (scores 0: nothing is decoded from it).
func grid(s, padW, padH int) Head {
	n := (padW / s) * (padH / s)
	return Head{Stride: s, Cls: make([]float32, n), Obj: make([]float32, n), BBox: make([]float32, 4*n), Kps: make([]float32, 10*n)}
}

// TestDecodeOneAnchor checks the arithmetic on one anchor by hand: stride
// 16 over a 64x32 input is a 2-row, 4-column grid; anchor (row 1, col 2)
// with offsets (0.5, 0.25), log-size (ln 2, ln 3) is a box centred at
// ((2+0.5)·16, (1+0.25)·16) = (40, 20), 32 wide and 48 high; its first
// landmark offset (-0.5, 0) is at ((2-0.5)·16, 1·16) = (24, 16). Scores
// 0.81 and 1 give sqrt(0.81) = 0.9.
func TestDecodeOneAnchor(t *testing.T) {
	h := grid(16, 64, 32)
	i := 1*4 + 2
	h.Cls[i], h.Obj[i] = 0.81, 1
	copy(h.BBox[4*i:], []float32{0.5, 0.25, float32(math.Log(2)), float32(math.Log(3))})
	copy(h.Kps[10*i:], []float32{-0.5, 0, 0.5, 0, 0, 0.5, -0.25, 1, 0.25, 1})
	faces, err := Decode([]Head{h}, 64, 32, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if len(faces) != 1 {
		t.Fatalf("got %d faces, want 1", len(faces))
	}
	f := faces[0]
	near := func(what string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-3 {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	near("score", f.Score, 0.9)
	near("x", f.Box.X, 40-16)
	near("y", f.Box.Y, 20-24)
	near("w", f.Box.W, 32)
	near("h", f.Box.H, 48)
	want := [5]Point{{24, 16}, {40, 16}, {32, 24}, {28, 32}, {36, 32}}
	for j, p := range want {
		near("landmark x", f.Landmarks[j].X, p.X)
		near("landmark y", f.Landmarks[j].Y, p.Y)
	}
	// Below the threshold: nothing.
	if faces, _ := Decode([]Head{h}, 64, 32, 0.95); len(faces) != 0 {
		t.Errorf("score 0.9 kept at threshold 0.95: %v", faces)
	}
}

func TestDecodeRefusesBadShapes(t *testing.T) {
	h := grid(8, 64, 64)
	for _, tt := range []struct {
		name       string
		heads      []Head
		padW, padH int
	}{
		{"unpadded input", []Head{h}, 60, 64},
		{"zero input", []Head{h}, 0, 0},
		{"stride 0", []Head{{Stride: 0}}, 64, 64},
		{"stride 7", []Head{{Stride: 7}}, 64, 64},
		{"grid of another input", []Head{h}, 64, 96},
		{"short bbox", []Head{{Stride: 8, Cls: h.Cls, Obj: h.Obj, BBox: h.BBox[1:], Kps: h.Kps}}, 64, 64},
	} {
		if _, err := Decode(tt.heads, tt.padW, tt.padH, 0.5); !errors.Is(err, ErrOutput) {
			t.Errorf("%s: err = %v, want ErrOutput", tt.name, err)
		}
	}
}

// TestDecodeSkipsGarbage: NaN and infinite values, and sizes past e^12
// strides, give no face rather than a face with non-finite numbers.
func TestDecodeSkipsGarbage(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	h := grid(32, 64, 64)
	for i := range 4 {
		h.Cls[i], h.Obj[i] = 1, 1
	}
	h.BBox[0] = nan
	h.BBox[4+2] = 13
	h.Kps[20+3] = inf
	h.Cls[3] = nan
	faces, err := Decode([]Head{h}, 64, 64, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if len(faces) != 0 {
		t.Errorf("decoded %d faces from garbage: %+v", len(faces), faces)
	}
}

func TestSuppress(t *testing.T) {
	a := Face{Box: Box{0, 0, 10, 10}, Score: 0.9}
	b := Face{Box: Box{1, 1, 10, 10}, Score: 0.8} // IoU with a: 81/119 = 0.68
	c := Face{Box: Box{20, 0, 10, 10}, Score: 0.7}
	d := Face{Box: Box{5, 0, 10, 10}, Score: 0.95} // IoU with a: 50/150 = 0.33
	got := Suppress([]Face{c, b, a, d}, 0.3, 0)
	if len(got) != 2 || got[0] != d || got[1] != c {
		t.Errorf("Suppress(0.3) = %+v, want d, c", got)
	}
	got = Suppress([]Face{c, b, a, d}, 0.5, 0)
	if len(got) != 3 || got[0] != d || got[1] != a || got[2] != c {
		t.Errorf("Suppress(0.5) = %+v, want d, a, c", got)
	}
	if got := Suppress([]Face{c, b, a, d}, 0.5, 1); len(got) != 1 || got[0] != d {
		t.Errorf("Suppress topK 1 = %+v, want d", got)
	}
	if v := IoU(a.Box, b.Box); math.Abs(v-81.0/119) > 1e-9 {
		t.Errorf("IoU = %v, want %v", v, 81.0/119)
	}
	if v := IoU(Box{}, Box{}); v != 0 {
		t.Errorf("IoU of empty boxes = %v", v)
	}
}

// FuzzDecode feeds arbitrary numbers through Decode and Suppress: no panic,
// no non-finite number out, every score in [minScore, 1], and no two kept
// boxes overlapping more than allowed.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{0x00, 0x00, 0x80, 0x3f}, uint8(1), uint8(1))
	f.Add([]byte{0xff, 0xff, 0xff, 0x7f, 0x00, 0x00, 0x80, 0x7f}, uint8(2), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, cols, rows uint8) {
		padW, padH := 32*(1+int(cols%4)), 32*(1+int(rows%4))
		next := func() float32 {
			if len(data) < 4 {
				return 0.9
			}
			v := math.Float32frombits(binary.LittleEndian.Uint32(data))
			data = data[4:]
			return v
		}
		var heads []Head
		for _, s := range Strides {
			h := grid(s, padW, padH)
			for _, v := range [][]float32{h.Cls, h.Obj, h.BBox, h.Kps} {
				for i := range v {
					v[i] = next()
				}
			}
			heads = append(heads, h)
		}
		const minScore, maxIoU = 0.5, 0.3
		faces, err := Decode(heads, padW, padH, minScore)
		if err != nil {
			t.Fatalf("well-shaped heads refused: %v", err)
		}
		for _, f := range faces {
			vals := []float64{f.Box.X, f.Box.Y, f.Box.W, f.Box.H, f.Score}
			for _, p := range f.Landmarks {
				vals = append(vals, p.X, p.Y)
			}
			for _, v := range vals {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("non-finite value in %+v", f)
				}
			}
			if f.Score < minScore || f.Score > 1 {
				t.Fatalf("score %v out of [%v, 1]", f.Score, minScore)
			}
		}
		kept := Suppress(faces, maxIoU, 0)
		for i := range kept {
			for j := i + 1; j < len(kept); j++ {
				if IoU(kept[i].Box, kept[j].Box) > maxIoU {
					t.Fatalf("kept boxes overlap by %v", IoU(kept[i].Box, kept[j].Box))
				}
			}
			if i > 0 && kept[i].Score > kept[i-1].Score {
				t.Fatalf("not sorted by score")
			}
		}
	})
}
