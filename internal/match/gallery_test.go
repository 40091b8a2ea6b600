package match_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/gated-dev/gated/internal/eval"
	"github.com/gated-dev/gated/internal/eval/evaltest"
	"github.com/gated-dev/gated/internal/match"
)

// idols loads the shared real dlib descriptors.
func idols(t testing.TB) *eval.Set {
	t.Helper()
	return evaltest.Idols(t)
}

// bruteForce is the obvious 1:N search the gallery must agree with.
func bruteForce(vecs [][]float32, owners []string, q []float32) match.Result {
	best := map[string]float32{}
	for i, v := range vecs {
		d := match.Distance(q, v)
		if b, ok := best[owners[i]]; !ok || d < b {
			best[owners[i]] = d
		}
	}
	r := match.Result{Distance: float32(math.Inf(1)), RunnerDistance: float32(math.Inf(1))}
	for id, d := range best {
		switch {
		case d < r.Distance:
			r.Runner, r.RunnerDistance = r.Resident, r.Distance
			r.Resident, r.Distance = id, d
		case d < r.RunnerDistance:
			r.Runner, r.RunnerDistance = id, d
		}
	}
	return r
}

func near(a, b float32) bool {
	if math.IsInf(float64(a), 1) || math.IsInf(float64(b), 1) {
		return a == b
	}
	return math.Abs(float64(a-b)) < 1e-4
}

func sameResult(got, want match.Result) bool {
	// Equal distances may tie between residents; compare distances, and IDs
	// only where distances differ clearly.
	if !near(got.Distance, want.Distance) || !near(got.RunnerDistance, want.RunnerDistance) {
		return false
	}
	if got.Resident != want.Resident && !near(got.Distance, got.RunnerDistance) {
		return false
	}
	return true
}

func TestLookupMatchesBruteForceOnRealDescriptors(t *testing.T) {
	s := idols(t)
	for _, reindex := range []bool{false, true} {
		t.Run(fmt.Sprintf("reindex=%v", reindex), func(t *testing.T) {
			g := match.New(s.Dim)
			// Enroll every descriptor but each person's last; probe with all.
			last := map[string]int{}
			for i, l := range s.Labels {
				last[l] = i
			}
			var vecs [][]float32
			var owners []string
			for i, v := range s.Vectors {
				if last[s.Labels[i]] == i {
					continue
				}
				if err := g.Add(s.Labels[i], v); err != nil {
					t.Fatal(err)
				}
				vecs = append(vecs, v)
				owners = append(owners, s.Labels[i])
			}
			if reindex {
				g.Reindex()
				if g.Fitted() != len(vecs) {
					t.Fatalf("Fitted() = %d, want %d", g.Fitted(), len(vecs))
				}
			}
			for i, q := range s.Vectors {
				got, err := g.Lookup(q)
				if err != nil {
					t.Fatal(err)
				}
				want := bruteForce(vecs, owners, q)
				if !sameResult(got, want) {
					t.Fatalf("probe %d (%s): Lookup = %+v, want %+v", i, s.Labels[i], got, want)
				}
			}
		})
	}
}

func TestAddRemoveReplaceKeepLookupExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const dim = 128
	vec := func() []float32 {
		v := make([]float32, dim)
		for i := range v {
			v[i] = float32(rng.NormFloat64() * 0.1)
		}
		return v
	}
	g := match.New(dim)
	model := map[string][][]float32{}
	check := func(step int) {
		t.Helper()
		var vecs [][]float32
		var owners []string
		for id, vs := range model {
			for _, v := range vs {
				vecs = append(vecs, v)
				owners = append(owners, id)
			}
		}
		res, tmpl := g.Len()
		if res != len(model) || tmpl != len(vecs) {
			t.Fatalf("step %d: Len() = %d, %d, want %d, %d", step, res, tmpl, len(model), len(vecs))
		}
		for k := 0; k < 20; k++ {
			q := vec()
			got, _ := g.Lookup(q)
			if want := bruteForce(vecs, owners, q); !sameResult(got, want) {
				t.Fatalf("step %d: Lookup = %+v, want %+v", step, got, want)
			}
		}
	}
	for step := 0; step < 400; step++ {
		id := fmt.Sprintf("r%d", rng.IntN(60))
		switch op := rng.IntN(10); {
		case op < 5:
			n := 1 + rng.IntN(4)
			var vs [][]float32
			for range n {
				vs = append(vs, vec())
			}
			if err := g.Add(id, vs...); err != nil {
				t.Fatal(err)
			}
			model[id] = append(model[id], vs...)
		case op < 8:
			_, had := model[id]
			if got := g.Remove(id); got != had {
				t.Fatalf("step %d: Remove(%s) = %v, want %v", step, id, got, had)
			}
			delete(model, id)
		case op < 9:
			vs := [][]float32{vec(), vec()}
			if err := g.Replace(id, vs...); err != nil {
				t.Fatal(err)
			}
			model[id] = vs
		default:
			g.Reindex()
		}
		check(step)
	}
}

func TestDistanceIsOneToOne(t *testing.T) {
	g := match.New(2)
	mustAdd(t, g, "a", []float32{0, 0}, []float32{1, 0})
	mustAdd(t, g, "b", []float32{5, 5})
	d, ok, err := g.Distance("a", []float32{1, 1})
	if err != nil || !ok || !near(d, 1) {
		t.Errorf("Distance(a) = %v, %v, %v, want 1, true, nil", d, ok, err)
	}
	if _, ok, _ := g.Distance("nobody", []float32{1, 1}); ok {
		t.Errorf("Distance(nobody) found a template")
	}
}

func mustAdd(t *testing.T, g *match.Gallery, id string, vs ...[]float32) {
	t.Helper()
	if err := g.Add(id, vs...); err != nil {
		t.Fatal(err)
	}
}

func TestBadInputIsRefusedAndChangesNothing(t *testing.T) {
	g := match.New(3)
	mustAdd(t, g, "a", []float32{0, 0, 0})
	nan := float32(math.NaN())
	tests := []struct {
		name string
		err  error
		call func() error
	}{
		{"short vector", match.ErrDimension, func() error { return g.Add("b", []float32{1, 2}) }},
		{"NaN", match.ErrNotFinite, func() error { return g.Add("b", []float32{1, 2, 3}, []float32{nan, 0, 0}) }},
		{"empty id", match.ErrNoID, func() error { return g.Add("", []float32{1, 2, 3}) }},
		{"replace with bad", match.ErrDimension, func() error { return g.Replace("a", []float32{1}) }},
		{"lookup short", match.ErrDimension, func() error { _, err := g.Lookup([]float32{1}); return err }},
		{"lookup inf", match.ErrNotFinite, func() error {
			_, err := g.Lookup([]float32{float32(math.Inf(1)), 0, 0})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, tt.err) {
				t.Errorf("error = %v, want %v", err, tt.err)
			}
			if r, n := g.Len(); r != 1 || n != 1 {
				t.Errorf("after refused call Len() = %d, %d, want 1, 1", r, n)
			}
		})
	}
}

func TestPolicy(t *testing.T) {
	p := match.Policy{Threshold: 0.5, MinMargin: 0.1}
	tests := []struct {
		r    match.Result
		want bool
	}{
		{match.Result{Resident: "a", Distance: 0.3, Runner: "b", RunnerDistance: 0.45}, true},
		{match.Result{Resident: "a", Distance: 0.3, Runner: "b", RunnerDistance: 0.35}, false}, // margin
		{match.Result{Resident: "a", Distance: 0.55, Runner: "b", RunnerDistance: 0.9}, false}, // threshold
		{match.Result{Resident: "a", Distance: 0.3, RunnerDistance: float32(math.Inf(1))}, true},
		{match.Result{Distance: float32(math.Inf(1))}, false}, // empty gallery
	}
	for _, tt := range tests {
		if got := p.Accept(tt.r); got != tt.want {
			t.Errorf("Accept(%+v) = %v, want %v", tt.r, got, tt.want)
		}
	}
	for _, bad := range []match.Policy{{}, {Threshold: -1}, {Threshold: 0.5, MinMargin: -0.1}, {Threshold: float32(math.NaN())}} {
		if bad.Validate() == nil {
			t.Errorf("Validate(%+v) = nil, want an error", bad)
		}
	}
	if err := p.Validate(); err != nil {
		t.Errorf("Validate(%+v) = %v", p, err)
	}
}

func TestConcurrentUse(t *testing.T) {
	s := idols(t)
	g := match.New(s.Dim)
	for i, v := range s.Vectors[:600] {
		mustAdd(t, g, s.Labels[i], v)
	}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				q := s.Vectors[(w*300+i)%len(s.Vectors)]
				if _, err := g.Lookup(q); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for i, v := range s.Vectors[600:900] {
		id := fmt.Sprintf("new%d", i%50)
		mustAdd(t, g, id, v)
		if i%7 == 0 {
			g.Remove(id)
		}
		if i == 150 {
			g.Reindex()
		}
	}
	wg.Wait()
	// After the churn, the gallery still agrees with its own contents.
	r, err := g.Lookup(s.Vectors[0])
	if err != nil || r.Distance != 0 {
		t.Errorf("Lookup(own template) = %+v, %v, want distance 0", r, err)
	}
}

func TestTemplatesAndSnapshotAreCopies(t *testing.T) {
	g := match.New(4)
	a := [][]float32{{1, 0, 0, 0}, {0, 1, 0, 0}}
	if err := g.Add("a", a...); err != nil {
		t.Fatal(err)
	}
	if err := g.Add("b", []float32{0, 0, 1, 0}); err != nil {
		t.Fatal(err)
	}
	got := g.Templates("a")
	if len(got) != 2 || got[0][0] != 1 || got[1][1] != 1 {
		t.Fatalf("Templates(a) = %v, want %v", got, a)
	}
	got[0][0] = 42 // a copy: the gallery does not change
	if again := g.Templates("a"); again[0][0] != 1 {
		t.Fatalf("Templates returned gallery memory: after a write, %v", again)
	}
	if g.Templates("nobody") != nil {
		t.Errorf("Templates(nobody) = non-nil")
	}
	g.Remove("a")
	snap := g.Snapshot()
	if len(snap) != 1 || len(snap["b"]) != 1 || snap["b"][0][2] != 1 {
		t.Errorf("Snapshot after removing a = %v, want only b", snap)
	}
}
