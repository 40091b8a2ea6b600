package main

import (
	"context"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/gated-dev/gated/cmd/gated-eval/internal/mobileface"
	"github.com/gated-dev/gated/internal/eval"
	"github.com/gated-dev/gated/internal/recognizer"
	"github.com/gated-dev/gated/internal/recognizer/featurenet"
	"github.com/gated-dev/gated/internal/recognizer/yunet"
	"github.com/gated-dev/gated/models"
)

// describeConfig says where the models are, for describePhotos.
type describeConfig struct {
	dir                   string
	customPath, customSHA string
	jobs                  int
	// detector finds the faces: dlib's HOG, or YuNet (dlib then finds
	// each face again in YuNet's crop, and fr-feature is aligned by
	// YuNet's landmarks), as the gate does (recognizer.DetectorYuNet).
	detector recognizer.Detector
}

// worker holds one goroutine's models: none of them is shared.
type worker struct {
	dlib   *recognizer.Recognizer
	yn     *yunet.Detector // with recognizer.DetectorYuNet
	fn     *featurenet.Net
	mf     *mobileface.Describer
	custom *recognizer.Recognizer
}

func (w *worker) close() {
	if w.dlib != nil {
		w.dlib.Close()
	}
	if w.fn != nil {
		w.fn.Close()
	}
	if w.yn != nil {
		w.yn.Close()
	}
	if w.custom != nil {
		w.custom.Close()
	}
}

func newWorker(names []string, dc describeConfig) (*worker, error) {
	w := &worker{}
	var err error
	if w.dlib, err = recognizer.Load(dc.dir, recognizer.Options{Detector: dc.detector}); err != nil {
		return nil, err
	}
	if dc.detector == recognizer.DetectorYuNet && slices.Contains(names, models.FeatureNet) {
		if w.yn, err = yunet.Load(dc.dir, yunet.Options{}); err != nil {
			w.close()
			return nil, err
		}
	}
	if slices.Contains(names, models.FeatureNet) {
		if w.fn, err = featurenet.LoadNet(dc.dir); err != nil {
			w.close()
			return nil, err
		}
	}
	if slices.Contains(names, models.MobileFace) {
		if w.mf, err = mobileface.Load(dc.dir); err != nil {
			w.close()
			return nil, err
		}
	}
	if slices.Contains(names, models.DlibCustom) {
		p := dc.customPath
		if p == "" {
			p = filepath.Join(dc.dir, filepath.FromSlash(models.DlibCustomFile))
		}
		if w.custom, err = recognizer.LoadCustom(dc.dir, p, dc.customSHA, recognizer.Options{}); err != nil {
			w.close()
			return nil, err
		}
	}
	return w, nil
}

// describe computes every model's descriptor of the largest face dlib finds
// in one photo, by registry name; nil when there is no face. A model that
// adapts another's descriptors (Adapts) has none of its own.
func (w *worker) describe(data []byte, names []string) (map[string][]float32, error) {
	m, err := recognizer.DecodeImage(data)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	faces, err := w.dlib.Faces(m)
	if err != nil || len(faces) == 0 {
		return nil, err
	}
	big := largest(faces)
	out := map[string][]float32{models.Dlib: big.Descriptor}
	for _, n := range names {
		switch n {
		case models.FeatureNet:
			f := big
			if w.yn != nil {
				var ok bool
				if f, ok, err = recognizer.AlignedYuNetFace(w.yn, m, big.Rect); err != nil || !ok {
					return nil, err
				}
			}
			if out[n], err = w.fn.DescribeFace(m, f); err != nil {
				return nil, err
			}
		case models.MobileFace:
			img, err := m.ToImage()
			if err != nil {
				return nil, err
			}
			if out[n], err = w.mf.Describe(img, big.Landmarks); err != nil {
				return nil, err
			}
		case models.DlibCustom:
			cf, err := w.custom.Faces(m)
			if err != nil {
				return nil, err
			}
			if len(cf) == 0 {
				return nil, nil
			}
			out[n] = nearestFace(cf, big.Rect).Descriptor
		}
	}
	return out, nil
}

func largest(faces []recognizer.Face) recognizer.Face {
	return slices.MaxFunc(faces, func(a, b recognizer.Face) int {
		return a.Rect.Dx()*a.Rect.Dy() - b.Rect.Dx()*b.Rect.Dy()
	})
}

// nearestFace is the face whose box overlaps r most.
func nearestFace(faces []recognizer.Face, r image.Rectangle) recognizer.Face {
	return slices.MaxFunc(faces, func(a, b recognizer.Face) int {
		ia, ib := a.Rect.Intersect(r), b.Rect.Intersect(r)
		return ia.Dx()*ia.Dy() - ib.Dx()*ib.Dy()
	})
}

// describePhotos computes, for each model, one descriptor per photo of
// DIR/<person>/*.{jpg,png}: the largest face dlib finds (tight crops of one
// person). A photo with no face, or that any model cannot describe, is
// skipped for every model and listed, so all models see the same photos.
func describePhotos(e *env, dir string, names []string, dc describeConfig) (map[string]*eval.Set, []string, error) {
	type item struct{ person, path string }
	var items []item
	people, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	for _, p := range people {
		if !p.IsDir() {
			continue
		}
		files, err := os.ReadDir(filepath.Join(dir, p.Name()))
		if err != nil {
			return nil, nil, err
		}
		for _, f := range files {
			switch strings.ToLower(filepath.Ext(f.Name())) {
			case ".jpg", ".jpeg", ".png":
				items = append(items, item{p.Name(), filepath.Join(dir, p.Name(), f.Name())})
			}
		}
	}
	if len(items) == 0 {
		return nil, nil, fmt.Errorf("%s: no photos in per-person sub-folders", dir)
	}
	jobs := max(1, min(dc.jobs, len(items)))
	workers := make([]*worker, jobs)
	for i := range workers {
		if workers[i], err = newWorker(names, dc); err != nil {
			return nil, nil, err
		}
		defer workers[i].close()
	}
	e.log.Info("computing descriptors", "photos", len(items), "models", strings.Join(names, ","), "jobs", jobs)
	descs := make([]map[string][]float32, len(items))
	errs := make([]error, len(items))
	err = parallel(e.ctx, len(items), len(workers), func(w, i int) {
		b, err := os.ReadFile(items[i].path)
		if err != nil {
			errs[i] = err
			return
		}
		descs[i], errs[i] = workers[w].describe(b, names)
	})
	if err != nil {
		return nil, nil, err
	}
	sets := map[string]*eval.Set{}
	for _, n := range append([]string{models.Dlib}, names...) {
		if m, _ := models.LookupFaceModel(n); m.Adapts == "" {
			sets[n] = &eval.Set{}
		}
	}
	var skipped []string
	for i, it := range items {
		rel, _ := filepath.Rel(dir, it.path)
		switch {
		case errs[i] != nil:
			skipped = append(skipped, fmt.Sprintf("%s: %v", rel, errs[i]))
		case descs[i] == nil:
			skipped = append(skipped, rel+": no face found")
		default:
			for n, s := range sets {
				if err := s.Add(it.person, descs[i][n]); err != nil {
					return nil, nil, err
				}
			}
		}
	}
	return sets, skipped, nil
}

// parallel runs do(w, i) for every item i < n on workers goroutines (w is
// the worker's index, for its own models), and returns ctx's error if it
// ended first (items not yet started are then skipped).
func parallel(ctx context.Context, n, workers int, do func(w, i int)) error {
	var wg sync.WaitGroup
	next := make(chan int)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				do(w, i)
			}
		}()
	}
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	return ctx.Err()
}
