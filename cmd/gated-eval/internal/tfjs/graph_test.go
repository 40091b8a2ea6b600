package tfjs_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/gated-dev/gated/cmd/gated-eval/internal/tfjs"
)

// graph builds a model.json and weight file holding the given constants
// (name, shape, dtype, values) and nodes.
func graph(t testing.TB, consts []weight, nodes string) (string, []byte) {
	t.Helper()
	var ws []string
	var bin bytes.Buffer
	for _, c := range consts {
		shape := make([]string, len(c.shape))
		for i, d := range c.shape {
			shape[i] = itoa(d)
		}
		ws = append(ws, `{"name":"`+c.name+`","shape":[`+strings.Join(shape, ",")+`],"dtype":"`+c.dtype+`"}`)
		for _, v := range c.vals {
			if c.dtype == "int32" {
				binary.Write(&bin, binary.LittleEndian, int32(v))
			} else {
				binary.Write(&bin, binary.LittleEndian, float32(v))
			}
		}
	}
	js := `{"format":"graph-model","modelTopology":{"node":[` + nodes + `]},"weightsManifest":[{"paths":["w.bin"],"weights":[` + strings.Join(ws, ",") + `]}]}`
	return js, bin.Bytes()
}

type weight struct {
	name, dtype string
	shape       []int
	vals        []float64
}

func itoa(i int) string {
	if i < 0 {
		return "-" + itoa(-i)
	}
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

const (
	valid = `"padding":{"s":"VkFMSUQ="}`
	same  = `"padding":{"s":"U0FNRQ=="}`
)

func stride(s int) string {
	return `"strides":{"list":{"i":["1","` + itoa(s) + `","` + itoa(s) + `","1"]}}`
}

// TestSmallNetwork runs every supported operation on a 1x3x3x2 input and
// compares with values worked out by hand.
func TestSmallNetwork(t *testing.T) {
	consts := []weight{
		{"sub", "float32", []int{1}, []float64{1}},
		{"scale", "float32", []int{2}, []float64{1, -1}},
		{"pads", "int32", []int{4, 2}, []float64{0, 0, 1, 1, 1, 1, 0, 0}},
		{"dw", "float32", []int{3, 3, 2, 1}, []float64{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0}}, // centre tap only
		{"pw", "float32", []int{1, 1, 2, 1}, []float64{1, 1}},
		{"six", "float32", []int{}, []float64{6}},
		{"flat", "int32", []int{2}, []float64{-1, 9}},
		{"fc", "float32", []int{9, 2}, []float64{1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 1}},
	}
	nodes := strings.Join([]string{
		`{"name":"x","op":"Placeholder","attr":{"shape":{"shape":{"dim":[{"size":"-1"},{"size":"3"},{"size":"3"},{"size":"2"}]}}}}`,
		`{"name":"sub","op":"Const"}`, `{"name":"scale","op":"Const"}`, `{"name":"pads","op":"Const"}`, `{"name":"dw","op":"Const"}`,
		`{"name":"pw","op":"Const"}`, `{"name":"six","op":"Const"}`, `{"name":"flat","op":"Const"}`, `{"name":"fc","op":"Const"}`,
		`{"name":"a","op":"Sub","input":["x","sub"]}`,
		`{"name":"b","op":"Mul","input":["scale","a"]}`,
		`{"name":"c","op":"Pad","input":["b","pads"]}`,
		`{"name":"d","op":"DepthwiseConv2dNative","input":["c","dw"],"attr":{` + valid + `,` + stride(1) + `}}`,
		`{"name":"e","op":"Conv2D","input":["d","pw"],"attr":{` + same + `,` + stride(1) + `}}`,
		`{"name":"f","op":"Minimum","input":["six","e"]}`,
		`{"name":"g","op":"Reshape","input":["f","flat"]}`,
		`{"name":"h","op":"MatMul","input":["g","fc"]}`,
	}, ",")
	js, bin := graph(t, consts, nodes)
	g, err := tfjs.Load(strings.NewReader(js), bytes.NewReader(bin), "")
	if err != nil {
		t.Fatal(err)
	}
	if got := g.InputShape(); len(got) != 4 || got[0] != 1 || got[3] != 2 {
		t.Fatalf("InputShape() = %v, want [1 3 3 2]", got)
	}
	in := tfjs.Tensor{Shape: []int{1, 3, 3, 2}}
	for i := range 18 {
		in.Data = append(in.Data, float32(i)) // pixel p has channels 2p, 2p+1
	}
	out, err := g.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	// b = (x-1)*[1,-1]; the centre-tap depthwise conv of the padded b is b;
	// e = b0 + b1 = (2p-1) - (2p) = -1 at every pixel; min(6, -1) = -1;
	// h = [sum of the 9 values, last value] = [-9, -1].
	want := []float32{-9, -1}
	if len(out.Data) != 2 || out.Data[0] != want[0] || out.Data[1] != want[1] {
		t.Errorf("Run = %v %v, want [1 2] %v", out.Shape, out.Data, want)
	}
	if _, err := g.Run(tfjs.Tensor{Shape: []int{1, 2, 2, 2}, Data: make([]float32, 8)}); err == nil {
		t.Errorf("Run(wrong shape) = nil error")
	}
}

func TestStridedConvMatchesDirectSum(t *testing.T) {
	// 1x4x4x1 input 0..15, 2x2 kernel [[1,2],[3,4]], stride 2, VALID.
	consts := []weight{{"k", "float32", []int{2, 2, 1, 1}, []float64{1, 2, 3, 4}}}
	nodes := `{"name":"x","op":"Placeholder","attr":{"shape":{"shape":{"dim":[{"size":"1"},{"size":"4"},{"size":"4"},{"size":"1"}]}}}},{"name":"k","op":"Const"},` +
		`{"name":"y","op":"Conv2D","input":["x","k"],"attr":{` + valid + `,` + stride(2) + `}}`
	js, bin := graph(t, consts, nodes)
	g, err := tfjs.Load(strings.NewReader(js), bytes.NewReader(bin), "y")
	if err != nil {
		t.Fatal(err)
	}
	in := tfjs.Tensor{Shape: []int{1, 4, 4, 1}}
	for i := range 16 {
		in.Data = append(in.Data, float32(i))
	}
	out, err := g.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	var want []float32
	for _, oy := range []int{0, 2} {
		for _, ox := range []int{0, 2} {
			at := func(y, x int) float32 { return float32(y*4 + x) }
			want = append(want, at(oy, ox)+2*at(oy, ox+1)+3*at(oy+1, ox)+4*at(oy+1, ox+1))
		}
	}
	for i := range want {
		if math.Abs(float64(out.Data[i]-want[i])) > 1e-5 {
			t.Fatalf("Conv2D = %v, want %v", out.Data, want)
		}
	}
}

func TestLoadRefusesWhatItCannotRun(t *testing.T) {
	ph := `{"name":"x","op":"Placeholder","attr":{"shape":{"shape":{"dim":[{"size":"1"},{"size":"2"}]}}}}`
	tests := []struct {
		name  string
		js    string
		bin   []byte
		wantS string
	}{
		{"not JSON", `{`, nil, "model.json"},
		{"layers model", `{"format":"layers-model"}`, nil, "format"},
		{"unknown op", `{"format":"graph-model","modelTopology":{"node":[` + ph + `,{"name":"y","op":"_FusedConv2D","input":["x"]}]}}`, nil, "_FusedConv2D"},
		{"use before definition", `{"format":"graph-model","modelTopology":{"node":[{"name":"y","op":"Relu","input":["x"]},` + ph + `]}}`, nil, "before"},
		{"weights short", `{"format":"graph-model","modelTopology":{"node":[` + ph + `]},"weightsManifest":[{"weights":[{"name":"k","shape":[4],"dtype":"float32"}]}]}`, make([]byte, 8), "manifest says"},
		{"weights long", `{"format":"graph-model","modelTopology":{"node":[` + ph + `]},"weightsManifest":[{"weights":[{"name":"k","shape":[1],"dtype":"float32"}]}]}`, make([]byte, 8), "manifest says"},
		{"quantized", `{"format":"graph-model","modelTopology":{"node":[` + ph + `]},"weightsManifest":[{"weights":[{"name":"k","shape":[1],"dtype":"float32","quantization":{"dtype":"uint8"}}]}]}`, make([]byte, 4), "quantized"},
		{"no input", `{"format":"graph-model","modelTopology":{"node":[]}}`, nil, "no input"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tfjs.Load(strings.NewReader(tt.js), bytes.NewReader(tt.bin), "")
			if !errors.Is(err, tfjs.ErrModel) || !strings.Contains(err.Error(), tt.wantS) {
				t.Errorf("Load = %v, want an ErrModel mentioning %q", err, tt.wantS)
			}
		})
	}
}

func FuzzLoad(f *testing.F) {
	f.Add(`{"format":"graph-model","modelTopology":{"node":[{"name":"x","op":"Placeholder","attr":{"shape":{"shape":{"dim":[{"size":"1"},{"size":"2"}]}}}},{"name":"k","op":"Const"},{"name":"y","op":"Mul","input":["x","k"]}]},"weightsManifest":[{"weights":[{"name":"k","shape":[2],"dtype":"float32"}]}]}`, []byte{0, 0, 128, 63, 0, 0, 0, 64})
	f.Add(`{"format":"graph-model"}`, []byte{})
	f.Fuzz(func(t *testing.T, js string, bin []byte) {
		g, err := tfjs.Load(strings.NewReader(js), bytes.NewReader(bin), "")
		if err != nil {
			if !errors.Is(err, tfjs.ErrModel) {
				t.Fatalf("error %v is not an ErrModel", err)
			}
			return
		}
		shape := g.InputShape()
		n := 1
		for _, d := range shape {
			n *= d
		}
		if n > 4096 || len(shape) > 4 {
			return // big inputs are legitimate but slow: not worth fuzzing
		}
		g.Run(tfjs.Tensor{Shape: shape, Data: make([]float32, n)}) // must not panic
	})
}
