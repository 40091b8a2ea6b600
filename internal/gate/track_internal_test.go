package gate

import (
	"image"
	"testing"
)

// TestTrackFollow: the geometry of following a face (no recognition is
// asserted here: the descriptors are stand-ins, the boxes are the point).
func TestTrackFollow(t *testing.T) {
	box := image.Rect(0, 0, 100, 100)
	tests := []struct {
		name  string
		next  image.Rectangle
		face  []float32
		jump  float32
		fresh bool
	}{
		{"same box", box, []float32{1, 0}, 0, false},
		{"moved 10 px (IoU 0.82)", box.Add(image.Pt(10, 0)), []float32{1, 0}, 0, false},
		// Shifted 53 px: overlap 47x100 = 4700, union 15300: IoU 0.307.
		{"IoU just over 0.3", box.Add(image.Pt(53, 0)), []float32{1, 0}, 0, false},
		// Shifted 54 px: 4600 / 15400 = 0.299.
		{"IoU just under 0.3", box.Add(image.Pt(54, 0)), []float32{1, 0}, 0, true},
		{"elsewhere", box.Add(image.Pt(300, 0)), []float32{1, 0}, 0, true},
		{"no box after a box", image.Rectangle{}, []float32{1, 0}, 0, true},
		{"descriptor within the jump", box, []float32{1, 0.3}, 0.4, false},
		{"descriptor at the jump", box, []float32{1, 0.4}, 0.4, true},
		{"another length", box, []float32{1, 0, 0}, 0.4, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tr track
			if !tr.follow(box, []float32{1, 0}, nil, nil, 3, tt.jump) {
				t.Fatalf("first face: follow = false, want a new track")
			}
			if got := tr.follow(tt.next, tt.face, nil, nil, 3, tt.jump); got != tt.fresh {
				t.Errorf("follow(%v, %v) = %v, want %v", tt.next, tt.face, got, tt.fresh)
			}
			want := 2
			if tt.fresh {
				want = 1
			}
			if len(tr.faces) != want {
				t.Errorf("faces held = %d, want %d", len(tr.faces), want)
			}
		})
	}
	t.Run("zero boxes continue one another", func(t *testing.T) {
		var tr track
		tr.follow(image.Rectangle{}, []float32{1, 0}, nil, nil, 3, 0)
		if tr.follow(image.Rectangle{}, []float32{1, 0}, nil, nil, 3, 0) {
			t.Errorf("a caller without boxes: a second face started a new track")
		}
	})
	t.Run("holds the last k, copied", func(t *testing.T) {
		var tr track
		buf := []float32{0, 0}
		for i := range 5 {
			buf[0] = float32(i)
			tr.follow(box, buf, nil, nil, 3, 0)
		}
		if len(tr.faces) != 3 || tr.faces[0][0] != 2 || tr.faces[2][0] != 4 {
			t.Errorf("faces = %v, want the last 3 (2, 3, 4), each its own copy", tr.faces)
		}
	})
}
