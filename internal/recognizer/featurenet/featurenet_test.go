package featurenet_test

import (
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"gocv.io/x/gocv"

	"github.com/gated-dev/gated/internal/eval"
	"github.com/gated-dev/gated/internal/match"
	"github.com/gated-dev/gated/internal/recognizer"
	"github.com/gated-dev/gated/internal/recognizer/featurenet"
	"github.com/gated-dev/gated/internal/recognizer/recognizertest"
	"github.com/gated-dev/gated/internal/testenv"
)

var (
	once   sync.Once
	shared *featurenet.Recognizer
	errRec error
)

// load returns the recognizer on the real, verified models; the test fails
// naming the set-up step when the network is not there.
func load(t testing.TB) *featurenet.Recognizer {
	t.Helper()
	dir := testenv.Models(t)
	once.Do(func() { shared, errRec = featurenet.Load(dir, recognizer.Options{}) })
	if errRec != nil {
		t.Fatalf("%v\n(make setup runs scripts/fetch-face-model.sh, which fetches %s)", errRec, featurenet.File)
	}
	return shared
}

// TestSeparatesTheSharedPhotos: on the 17 East Asian people of the shared
// photos, where dlib's mean same-person and different-person distances are
// only 8% apart (0.492 and 0.535, internal/recognizer), this network's are
// 19% apart. The means are pinned: a change in alignment, scaling or model
// that moves them fails here.
func TestSeparatesTheSharedPhotos(t *testing.T) {
	d := recognizertest.Descriptors(t, load(t))
	for a := range d {
		if n := len(d[a]); n != featurenet.Dim {
			t.Fatalf("%s: %d components, want %d", a, n, featurenet.Dim)
		}
		var norm float64
		for _, x := range d[a] {
			norm += float64(x) * float64(x)
		}
		if math.Abs(norm-1) > 1e-4 {
			t.Errorf("%s: |descriptor|^2 = %v, want 1", a, norm)
		}
	}
	same, diff := recognizertest.Pairs(d)
	p := eval.Pairs{Genuine: slices.Sorted(slices.Values(same)), Impostor: slices.Sorted(slices.Values(diff))}
	at := p.AtFMR(0)
	t.Logf("%d same-person pairs (max %.3f), %d different (min %.3f); at the smallest different-person distance FNMR %.1f%%",
		len(same), p.Genuine[len(p.Genuine)-1], len(diff), p.Impostor[0], 100*at.FNMR)
	if len(same) != 28 || len(diff) != 437 {
		t.Fatalf("got %d same-person and %d different-person pairs, want 28 and 437", len(same), len(diff))
	}
	if at.FNMR > 0.6 {
		t.Errorf("FNMR at zero false matches = %.3f, want at most 0.6", at.FNMR)
	}
	ms, md := recognizertest.Mean(same), recognizertest.Mean(diff)
	if math.Abs(float64(ms-1.044)) > 0.01 || math.Abs(float64(md-1.282)) > 0.01 {
		t.Errorf("mean distances %.3f (same person), %.3f (different people), want 1.044 and 1.282 ± 0.01", ms, md)
	}
	if gap := (md - ms) / md; gap < 0.16 {
		t.Errorf("relative gap of the means = %.3f, want at least 0.16 (twice dlib's 0.08)", gap)
	}
}

func TestGroupPhoto(t *testing.T) {
	faces, err := load(t).FacesInImage(testenv.Photo(t, "pristin.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	if len(faces) != 10 {
		t.Fatalf("faces in pristin.jpg = %d, want 10", len(faces))
	}
	for i, f := range faces {
		for j := range i {
			if d := match.Distance(f.Descriptor, faces[j].Descriptor); d < 0.9 {
				t.Errorf("faces %d and %d (different people) are %.3f apart, want over 0.9", i, j, d)
			}
		}
	}
}

func TestRefusals(t *testing.T) {
	r := load(t)
	m, err := recognizer.DecodeImage(testenv.Photo(t, "tzuyu.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := featurenet.Crop(m, nil); err == nil {
		t.Errorf("Crop(no landmarks) = nil error")
	}
	small := gocv.NewMatWithSize(50, 50, gocv.MatTypeCV8UC3)
	defer small.Close()
	if _, err := r.DescribeCrop(small); err == nil {
		t.Errorf("DescribeCrop(50x50) = nil error")
	}
	if _, err := featurenet.Load(t.TempDir(), recognizer.Options{}); err == nil || !strings.Contains(err.Error(), "fetch-face-model.sh") {
		t.Errorf("Load(empty dir) = %v, want an error naming scripts/fetch-face-model.sh", err)
	}
	n, err := featurenet.LoadNet(testenv.Models(t))
	if err != nil {
		t.Fatal(err)
	}
	crop := gocv.NewMatWithSize(featurenet.Size, featurenet.Size, gocv.MatTypeCV8UC3)
	defer crop.Close()
	n.Close()
	if _, err := n.DescribeCrop(crop); !errors.Is(err, featurenet.ErrClosed) {
		t.Errorf("DescribeCrop after Close = %v, want ErrClosed", err)
	}
}

// BenchmarkDescriptorPerFace is the network's share of a frame: align one
// face (dlib landmarks already found) and compute its descriptor.
func BenchmarkDescriptorPerFace(b *testing.B) {
	r := load(b)
	m, err := recognizer.DecodeImage(testenv.Photo(b, "jimin5.jpg"))
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	faces, err := r.Faces(m)
	if err != nil || len(faces) != 1 {
		b.Fatalf("faces = %d, %v", len(faces), err)
	}
	b.Run("align+descriptor", func(b *testing.B) {
		for b.Loop() {
			if _, err := r.Describe(m, faces[0].Landmarks); err != nil {
				b.Fatal(err)
			}
		}
	})
	crop, err := featurenet.Crop(m, faces[0].Landmarks)
	if err != nil {
		b.Fatal(err)
	}
	defer crop.Close()
	b.Run("descriptor", func(b *testing.B) {
		for b.Loop() {
			if _, err := r.DescribeCrop(crop); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestYuNetPathSeparatesTheSharedPhotos: with YuNet (no dlib), faces are
// aligned by YuNet's landmarks refined at a larger scale. The same-person
// and different-person means on the shared photos are 15% apart (1.086,
// 1.283), a little less than with dlib's landmarks (19%) and still twice
// dlib's own descriptor (8%); at least 0.14 is required.
func TestYuNetPathSeparatesTheSharedPhotos(t *testing.T) {
	r, err := featurenet.Load(testenv.Models(t), recognizer.Options{Detector: recognizer.DetectorYuNet})
	if err != nil {
		t.Fatalf("%v\n(make setup fetches YuNet: scripts/fetch-face-model.sh yunet)", err)
	}
	defer r.Close()
	d := recognizertest.Descriptors(t, r)
	same, diff := recognizertest.Pairs(d)
	ms, md := recognizertest.Mean(same), recognizertest.Mean(diff)
	t.Logf("%d same-person pairs, mean %.3f; %d different, mean %.3f", len(same), ms, len(diff), md)
	// YuNet also finds small faces in the background of two photos, which
	// then hold several faces and are left out: 26 and 380 pairs here.
	if len(same) < 25 || len(diff) < 350 {
		t.Fatalf("got %d same-person and %d different-person pairs, want at least 25 and 350", len(same), len(diff))
	}
	if gap := (md - ms) / md; gap < 0.14 {
		t.Errorf("relative gap of the means = %.3f, want at least 0.14", gap)
	}
}
