package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gated-dev/gated/internal/liveness"
	"github.com/gated-dev/gated/internal/recognizer"
	"github.com/gated-dev/gated/internal/recognizer/livenessnet"
	"github.com/gated-dev/gated/internal/recognizer/yunet"
	"github.com/gated-dev/gated/models"
)

// dispatch runs a subcommand named by the first argument ("pad"), or the
// descriptor evaluation.
func dispatch(e *env, args []string) error {
	if len(args) > 0 && args[0] == "pad" {
		return runPad(e, args[1:])
	}
	return runEval(e, args)
}

// padImage is what the pipeline measured of one image: cached by path,
// size and modification time.
type padImage struct {
	Key    string         `json:"key"`
	Found  bool           `json:"found"`
	Box    [4]int         `json:"box"`
	Frame  liveness.Frame `json:"frame"`
	NetRGB float64        `json:"net_rgb"`
	// Times, in milliseconds: YuNet on the frame, the network (B,G,R) on
	// the face, the cues on the face.
	DetectMS float64 `json:"detect_ms"`
	NetMS    float64 `json:"net_ms"`
	CuesMS   float64 `json:"cues_ms"`
}

// padSample is one image with its label.
type padSample struct {
	file    string // "bonafide/<name>" or "attack/<name>"
	live    bool
	family  string // nuaa, cvz, pyis, other
	group   string // the cross-validation group: subject (or source)
	attack  string // attack type, "" for bona fide
	m       padImage
	cvScore map[string]float64 // layer -> out-of-fold live score
}

const padSynopsis = "pad --bonafide DIR --attack DIR [--manifest MANIFEST.tsv] [--layers net,rect,wide,wrect] [--cache FILE] [--json]"

func runPad(e *env, args []string) error {
	fs := flag.NewFlagSet(name+" pad", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	bona := fs.String("bonafide", "", "folder of bona fide (live) images")
	att := fs.String("attack", "", "folder of attack images (prints, screens, replays)")
	manifest := fs.String("manifest", "", "MANIFEST.tsv (../shared/pad) for attack types and subjects; without it groups come from file names and attack types are unknown")
	layers := fs.String("layers", strings.Join(liveness.Default.Use, ","), "the features the combination uses (of "+strings.Join(liveness.Names, ",")+"; the default is what the gate ships, liveness.Default)")
	cache := fs.String("cache", "", "JSON file of per-image results, read and rewritten (reruns are cheap)")
	modelDir := fs.String("models", models.DefaultDir(e.getenv), "model directory")
	jobs := fs.Int("jobs", runtime.NumCPU(), "images processed at once")
	lambda := fs.Float64("lambda", 1, "L2 penalty of the logistic combination")
	asJSON := fs.Bool("json", false, "write JSON")
	fs.Usage = func() { fmt.Fprintf(e.stderr, "usage: %s %s\n", name, padSynopsis); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{}
	}
	if *bona == "" || *att == "" || fs.NArg() > 0 {
		return usageError{"pad needs --bonafide DIR and --attack DIR and no other arguments"}
	}
	use := strings.Split(*layers, ",")
	for _, u := range use {
		if !slices.Contains(liveness.Names, u) {
			return usageError{fmt.Sprintf("--layers: unknown layer %q (have %s)", u, strings.Join(liveness.Names, ","))}
		}
	}
	var labels map[string]padLabel
	if *manifest != "" {
		f, err := os.Open(*manifest)
		if err != nil {
			return err
		}
		labels, err = parseManifest(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", *manifest, err)
		}
	}
	var samples []*padSample
	for _, d := range []struct {
		dir, class string
	}{{*bona, "bonafide"}, {*att, "attack"}} {
		ents, err := os.ReadDir(d.dir)
		if err != nil {
			return err
		}
		for _, en := range ents {
			ext := strings.ToLower(filepath.Ext(en.Name()))
			if en.IsDir() || (ext != ".jpg" && ext != ".jpeg" && ext != ".png") {
				continue
			}
			s := &padSample{file: d.class + "/" + en.Name(), live: d.class == "bonafide", cvScore: map[string]float64{}}
			s.family, s.group = padFamily(en.Name())
			if !s.live {
				s.attack = "unknown"
			}
			if l, ok := labels[s.file]; ok {
				if l.Subject != "" {
					s.group = l.Subject
				}
				s.attack = l.AttackType
			}
			samples = append(samples, s)
		}
	}
	if len(samples) == 0 {
		return fmt.Errorf("no JPEG or PNG images in %s or %s", *bona, *att)
	}
	dirOf := map[bool]string{true: *bona, false: *att}
	if err := measurePad(e, samples, dirOf, *modelDir, *cache, max(1, *jobs)); err != nil {
		return err
	}
	rep, err := padReport(samples, use, *lambda)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	writePadText(e, rep)
	return nil
}

// padFamily is an image's family (by its file-name prefix: nuaa__, cvz-,
// pyis-) and the subject its name gives (the part after the first "__").
func padFamily(base string) (family, group string) {
	parts := strings.Split(strings.TrimSuffix(base, filepath.Ext(base)), "__")
	prefix := parts[0]
	group = prefix
	if len(parts) >= 3 {
		group = parts[1]
	}
	switch {
	case prefix == "nuaa":
		family = "nuaa"
	case strings.HasPrefix(prefix, "cvz-"):
		family = "cvz"
	case strings.HasPrefix(prefix, "pyis-"):
		family = "pyis"
	default:
		family = "other"
	}
	return family, group
}

func cacheKey(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s|%d|%d", path, st.Size(), st.ModTime().UnixNano()), nil
}

// measurePad runs the pipeline on every sample not in the cache: YuNet
// finds the largest face, the network scores it in both channel orders and
// the cues look at it.
func measurePad(e *env, samples []*padSample, dirOf map[bool]string, modelDir, cachePath string, jobs int) error {
	cached := map[string]padImage{}
	if cachePath != "" {
		if b, err := os.ReadFile(cachePath); err == nil {
			var list []padImage
			if err := json.Unmarshal(b, &list); err != nil {
				return fmt.Errorf("cache %s: %w (delete it to start again)", cachePath, err)
			}
			for _, m := range list {
				cached[m.Key] = m
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	var todo []*padSample
	for _, s := range samples {
		k, err := cacheKey(filepath.Join(dirOf[s.live], filepath.Base(s.file)))
		if err != nil {
			return err
		}
		if m, ok := cached[k]; ok {
			s.m = m
			continue
		}
		s.m.Key = k
		todo = append(todo, s)
	}
	if len(todo) > 0 {
		e.log.Info("pad: measuring", "images", len(todo), "cached", len(samples)-len(todo))
		work := make(chan *padSample)
		errs := make(chan error, jobs)
		var wg sync.WaitGroup
		for range jobs {
			det, err := yunet.Load(modelDir, yunet.Options{TopK: recognizer.GateTopK})
			if err != nil {
				return err
			}
			net, err := livenessnet.Load(modelDir)
			if err != nil {
				det.Close()
				return err
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer det.Close()
				defer net.Close()
				for s := range work {
					if len(errs) > 0 {
						continue // one failed: drain the rest unmeasured
					}
					if err := measureOne(det, net, filepath.Join(dirOf[s.live], filepath.Base(s.file)), &s.m); err != nil {
						select {
						case errs <- fmt.Errorf("%s: %w", s.file, err):
						default:
						}
					}
				}
			}()
		}
		done := 0
		for _, s := range todo {
			if e.ctx.Err() != nil {
				break
			}
			work <- s
			if done++; done%500 == 0 {
				e.log.Info("pad: measured", "images", done, "of", len(todo))
			}
		}
		close(work)
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			return err
		}
		if err := e.ctx.Err(); err != nil {
			return err
		}
		if cachePath != "" {
			for _, s := range samples {
				cached[s.m.Key] = s.m
			}
			list := make([]padImage, 0, len(cached))
			for _, m := range cached {
				list = append(list, m)
			}
			sort.Slice(list, func(i, j int) bool { return list[i].Key < list[j].Key })
			b, err := json.Marshal(list)
			if err != nil {
				return err
			}
			if err := os.WriteFile(cachePath, b, 0o600); err != nil {
				return err
			}
		}
	}
	return nil
}

func measureOne(det *yunet.Detector, net *livenessnet.Net, path string, m *padImage) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	frame, err := recognizer.DecodeImage(data)
	if err != nil {
		return err
	}
	defer frame.Close()
	bgr, err := recognizer.ToBGR(frame)
	if err != nil {
		return err
	}
	if bgr.Ptr() != frame.Ptr() {
		defer bgr.Close()
	}
	t0 := time.Now()
	faces, err := recognizer.YuNetFaces(det, bgr)
	if err != nil {
		return err
	}
	m.DetectMS = ms(time.Since(t0))
	if len(faces) == 0 {
		return nil
	}
	best := faces[0]
	for _, f := range faces {
		if f.Rect.Dx()*f.Rect.Dy() > best.Rect.Dx()*best.Rect.Dy() {
			best = f
		}
	}
	box := best.Rect
	if liveness.ContextRect(bgr.Cols(), bgr.Rows(), box, liveness.ContextScale).Dx() < 8 {
		return nil // too small or outside the frame: no face
	}
	m.Found, m.Box = true, [4]int{box.Min.X, box.Min.Y, box.Max.X, box.Max.Y}
	t1 := time.Now()
	p, err := net.Score(bgr, box, livenessnet.BGR)
	if err != nil {
		return err
	}
	m.NetMS = ms(time.Since(t1))
	t2 := time.Now()
	c, err := livenessnet.Crops(bgr, box)
	if err != nil {
		return err
	}
	m.Frame = liveness.Cues(c, liveness.Frame{Net: p})
	m.CuesMS = ms(time.Since(t2))
	if m.NetRGB, err = net.Score(bgr, box, livenessnet.RGB); err != nil {
		return err
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
