package match_test

import (
	"fmt"
	"testing"

	"github.com/gated-dev/gated/internal/eval"
	"github.com/gated-dev/gated/internal/match"
)

// BenchGallery returns a gallery of n templates (3 per synthetic person,
// distributed like the real idols.json descriptors) and probes from people
// half enrolled, half strangers.
func benchGallery(b *testing.B, n int, reindex bool) (*match.Gallery, [][]float32) {
	b.Helper()
	z, err := eval.NewSynthesizer(idols(b), 42)
	if err != nil {
		b.Fatal(err)
	}
	g := match.New(128)
	var probes [][]float32
	for p := 0; p < n/3; p++ {
		c := z.Person()
		if err := g.Add(fmt.Sprintf("r%d", p), z.Template(c), z.Template(c), z.Template(c)); err != nil {
			b.Fatal(err)
		}
		if p < 256 {
			probes = append(probes, z.Template(c), z.Template(z.Person()))
		}
	}
	if reindex {
		g.Reindex()
	}
	return g, probes
}

func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		for _, reindex := range []bool{true, false} {
			b.Run(fmt.Sprintf("templates=%d/reindexed=%v", n, reindex), func(b *testing.B) {
				g, probes := benchGallery(b, n, reindex)
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if _, err := g.Lookup(probes[i%len(probes)]); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		}
	}
}

func BenchmarkReindex100k(b *testing.B) {
	g, _ := benchGallery(b, 100_000, false)
	for b.Loop() {
		g.Reindex()
	}
}
