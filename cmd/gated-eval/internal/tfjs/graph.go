// Package tfjs runs small TensorFlow.js graph models (model.json plus its
// weight file) in pure Go: the handful of operations face-embedding networks
// such as MobileFace use, on one image at a time, in float32, on the CPU.
//
// It owns parsing a graph model and evaluating it. It never fetches a model
// (set-up does, SHA-256 verified), never runs an operation it does not know
// (Load refuses the graph instead), and never guesses a shape: an input of
// the wrong shape is an error.
//
// Supported operations: Placeholder, Const, Identity, Add, AddV2, Sub, Mul,
// Maximum, Minimum, Relu, Relu6, Pad, Conv2D and DepthwiseConv2dNative
// (NHWC, VALID or SAME, strides, no dilation), Reshape, MatMul. Binary
// operations broadcast a scalar or a vector along the last axis.
package tfjs

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// ErrModel is wrapped by every error about a model that cannot be run.
var ErrModel = errors.New("tfjs: unusable model")

// maxWeights bounds the values a model may hold (64 Mi float32: 256 MiB), so
// that a hostile manifest cannot make Load allocate without limit; face
// embedding networks hold a few million.
const maxWeights = 1 << 26

// maxKernel bounds a convolution kernel's side.
const maxKernel = 64

// maxValues bounds any intermediate tensor (16 Mi values).
const maxValues = 1 << 24

// maxWork bounds the multiply-adds of one operation (2^32: seconds).
const maxWork = 1 << 32

var errTooBig = errors.New("operation too large")

// Tensor is a dense float32 tensor in row-major order.
type Tensor struct {
	Shape []int
	Data  []float32
}

func size(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

type node struct {
	name, op string
	inputs   []string
	strides  []int
	padding  string // "VALID" or "SAME"
	transA   bool
	transB   bool
}

// Graph is a loaded model, ready to run. It is safe for concurrent use:
// Run allocates its own intermediate tensors.
type Graph struct {
	nodes  []node
	consts map[string]Tensor
	input  string
	output string
	inDims []int // input shape with the batch dimension as 1
}

// Load reads a graph model: the model.json document and the concatenated
// weight files it lists (in manifest order). output names the node whose
// value Run returns ("" for the graph's last node).
func Load(modelJSON io.Reader, weights io.Reader, output string) (*Graph, error) {
	var doc struct {
		Format        string `json:"format"`
		ModelTopology struct {
			Node []struct {
				Name  string                     `json:"name"`
				Op    string                     `json:"op"`
				Input []string                   `json:"input"`
				Attr  map[string]json.RawMessage `json:"attr"`
			} `json:"node"`
		} `json:"modelTopology"`
		WeightsManifest []struct {
			Paths   []string `json:"paths"`
			Weights []struct {
				Name         string          `json:"name"`
				Shape        []int           `json:"shape"`
				Dtype        string          `json:"dtype"`
				Quantization json.RawMessage `json:"quantization"`
			} `json:"weights"`
		} `json:"weightsManifest"`
	}
	if err := json.NewDecoder(io.LimitReader(modelJSON, 64<<20)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: model.json: %v", ErrModel, err)
	}
	if doc.Format != "graph-model" {
		return nil, fmt.Errorf("%w: format %q, want graph-model", ErrModel, doc.Format)
	}
	g := &Graph{consts: map[string]Tensor{}}
	// Sizes first, so that a manifest promising more than the weight file
	// holds is refused before anything is allocated for it.
	total := 0
	for _, m := range doc.WeightsManifest {
		for _, w := range m.Weights {
			if len(w.Quantization) > 0 && string(w.Quantization) != "null" {
				return nil, fmt.Errorf("%w: weight %s is quantized", ErrModel, w.Name)
			}
			if w.Dtype != "float32" && w.Dtype != "int32" {
				return nil, fmt.Errorf("%w: weight %s has dtype %s", ErrModel, w.Name, w.Dtype)
			}
			n, nz := 1, 1 // nz ignores empty dimensions, which still drive loops
			for _, d := range w.Shape {
				if d < 0 || d > maxWeights {
					return nil, fmt.Errorf("%w: weight %s has shape %v", ErrModel, w.Name, w.Shape)
				}
				n *= d
				if nz *= max(d, 1); nz > maxWeights {
					return nil, fmt.Errorf("%w: weight %s has shape %v", ErrModel, w.Name, w.Shape)
				}
			}
			if total += n; n > maxWeights || total > maxWeights {
				return nil, fmt.Errorf("%w: weights hold more than %d values", ErrModel, maxWeights)
			}
		}
	}
	raw, err := io.ReadAll(io.LimitReader(weights, 4*int64(total)+1))
	if err != nil {
		return nil, fmt.Errorf("%w: weights: %v", ErrModel, err)
	}
	if len(raw) != 4*total {
		return nil, fmt.Errorf("%w: weight file has %d bytes, the manifest says %d", ErrModel, len(raw), 4*total)
	}
	for _, m := range doc.WeightsManifest {
		for _, w := range m.Weights {
			t := Tensor{Shape: slices.Clone(w.Shape), Data: make([]float32, size(w.Shape))}
			for i := range t.Data {
				u := binary.LittleEndian.Uint32(raw)
				raw = raw[4:]
				if w.Dtype == "int32" {
					t.Data[i] = float32(int32(u))
				} else {
					t.Data[i] = math.Float32frombits(u)
				}
			}
			g.consts[w.Name] = t
		}
	}
	known := map[string]bool{}
	for _, n := range doc.ModelTopology.Node {
		nd := node{name: n.Name, op: n.Op}
		for _, in := range n.Input {
			if strings.HasPrefix(in, "^") {
				continue // control dependency
			}
			in, _, _ = strings.Cut(in, ":")
			if !known[in] {
				return nil, fmt.Errorf("%w: node %s uses %s before it is defined", ErrModel, n.Name, in)
			}
			nd.inputs = append(nd.inputs, in)
		}
		var attr struct {
			List struct {
				I []string `json:"i"`
			} `json:"list"`
			S string `json:"s"`
			B bool   `json:"b"`
		}
		get := func(key string) bool {
			attr = struct {
				List struct {
					I []string `json:"i"`
				} `json:"list"`
				S string `json:"s"`
				B bool   `json:"b"`
			}{}
			raw, ok := n.Attr[key]
			return ok && json.Unmarshal(raw, &attr) == nil
		}
		switch n.Op {
		case "Const":
			if _, ok := g.consts[n.Name]; !ok {
				return nil, fmt.Errorf("%w: constant %s has no weights", ErrModel, n.Name)
			}
		case "Placeholder":
			if g.input != "" {
				return nil, fmt.Errorf("%w: more than one input", ErrModel)
			}
			g.input = n.Name
			var shape struct {
				Shape struct {
					Dim []struct {
						Size string `json:"size"`
					} `json:"dim"`
				} `json:"shape"`
			}
			if raw, ok := n.Attr["shape"]; ok && json.Unmarshal(raw, &shape) == nil {
				for i, d := range shape.Shape.Dim {
					var v int
					fmt.Sscan(d.Size, &v)
					if i == 0 && v == -1 {
						v = 1
					}
					if v <= 0 || v > 1<<14 {
						return nil, fmt.Errorf("%w: input dimension %s", ErrModel, d.Size)
					}
					g.inDims = append(g.inDims, v)
				}
			}
		case "Conv2D", "DepthwiseConv2dNative":
			if get("strides") {
				for _, s := range attr.List.I {
					var v int
					fmt.Sscan(s, &v)
					nd.strides = append(nd.strides, v)
				}
			}
			if len(nd.strides) != 4 || nd.strides[0] != 1 || nd.strides[3] != 1 {
				return nil, fmt.Errorf("%w: %s: strides %v", ErrModel, n.Name, nd.strides)
			}
			if get("padding") {
				p, _ := base64.StdEncoding.DecodeString(attr.S)
				nd.padding = string(p)
			}
			if nd.padding != "VALID" && nd.padding != "SAME" {
				return nil, fmt.Errorf("%w: %s: padding %q", ErrModel, n.Name, nd.padding)
			}
			if get("data_format") {
				if f, _ := base64.StdEncoding.DecodeString(attr.S); len(f) > 0 && string(f) != "NHWC" {
					return nil, fmt.Errorf("%w: %s: data format %s", ErrModel, n.Name, f)
				}
			}
			if get("dilations") {
				for _, s := range attr.List.I {
					if s != "1" {
						return nil, fmt.Errorf("%w: %s: dilation", ErrModel, n.Name)
					}
				}
			}
		case "MatMul":
			if get("transpose_a") {
				nd.transA = attr.B
			}
			if get("transpose_b") {
				nd.transB = attr.B
			}
			if nd.transA {
				return nil, fmt.Errorf("%w: %s: transpose_a", ErrModel, n.Name)
			}
		case "Identity", "Add", "AddV2", "Sub", "Mul", "Maximum", "Minimum", "Relu", "Relu6", "Pad", "Reshape":
		default:
			return nil, fmt.Errorf("%w: operation %s (node %s) is not supported", ErrModel, n.Op, n.Name)
		}
		known[n.Name] = true
		g.nodes = append(g.nodes, nd)
	}
	if g.input == "" || len(g.nodes) == 0 || len(g.inDims) == 0 {
		return nil, fmt.Errorf("%w: no input of known shape", ErrModel)
	}
	g.output = output
	if output == "" {
		g.output = g.nodes[len(g.nodes)-1].name
	}
	if !known[g.output] {
		return nil, fmt.Errorf("%w: no node %s", ErrModel, output)
	}
	return g, nil
}

// InputShape is the shape Run wants, batch dimension 1.
func (g *Graph) InputShape() []int { return slices.Clone(g.inDims) }

// Run evaluates the graph on one input and returns the output node's value.
func (g *Graph) Run(in Tensor) (Tensor, error) {
	if !slices.Equal(in.Shape, g.inDims) || len(in.Data) != size(in.Shape) {
		return Tensor{}, fmt.Errorf("tfjs: input shape %v with %d values, want %v", in.Shape, len(in.Data), g.inDims)
	}
	vals := map[string]Tensor{g.input: in}
	// Free each intermediate after its last use.
	last := map[string]int{}
	for i, n := range g.nodes {
		for _, x := range n.inputs {
			last[x] = i
		}
	}
	for i, n := range g.nodes {
		var out Tensor
		var err error
		arg := func(k int) Tensor {
			if c, ok := g.consts[n.inputs[k]]; ok {
				return c
			}
			return vals[n.inputs[k]]
		}
		if n.op != "Const" && n.op != "Placeholder" && len(n.inputs) == 0 {
			return Tensor{}, fmt.Errorf("tfjs: %s has no inputs", n.name)
		}
		switch n.op {
		case "Const", "Placeholder":
			continue
		case "Identity":
			out = arg(0)
		case "Add", "AddV2":
			out, err = binary2(arg(0), arg(1), func(a, b float32) float32 { return a + b })
		case "Sub":
			out, err = binary2(arg(0), arg(1), func(a, b float32) float32 { return a - b })
		case "Mul":
			out, err = binary2(arg(0), arg(1), func(a, b float32) float32 { return a * b })
		case "Maximum":
			out, err = binary2(arg(0), arg(1), func(a, b float32) float32 { return max(a, b) })
		case "Minimum":
			out, err = binary2(arg(0), arg(1), func(a, b float32) float32 { return min(a, b) })
		case "Relu":
			out = unary(arg(0), func(a float32) float32 { return max(a, 0) })
		case "Relu6":
			out = unary(arg(0), func(a float32) float32 { return min(max(a, 0), 6) })
		case "Pad":
			out, err = pad(arg(0), arg(1))
		case "Conv2D":
			out, err = conv2d(arg(0), arg(1), n.strides[1], n.strides[2], n.padding)
		case "DepthwiseConv2dNative":
			out, err = depthwise(arg(0), arg(1), n.strides[1], n.strides[2], n.padding)
		case "Reshape":
			out, err = reshape(arg(0), arg(1))
		case "MatMul":
			out, err = matmul(arg(0), arg(1), n.transB)
		}
		if err != nil {
			return Tensor{}, fmt.Errorf("tfjs: %s (%s): %w", n.name, n.op, err)
		}
		vals[n.name] = out
		if n.name == g.output {
			return out, nil
		}
		for _, x := range n.inputs {
			if last[x] == i {
				delete(vals, x)
			}
		}
	}
	return Tensor{}, fmt.Errorf("tfjs: output %s never computed", g.output)
}

func unary(a Tensor, f func(float32) float32) Tensor {
	out := Tensor{Shape: a.Shape, Data: make([]float32, len(a.Data))}
	for i, x := range a.Data {
		out.Data[i] = f(x)
	}
	return out
}

// binary2 applies f elementwise, broadcasting a scalar or a vector along the
// last axis on either side.
func binary2(a, b Tensor, f func(a, b float32) float32) (Tensor, error) {
	big, small, swap := a, b, false
	if len(b.Data) > len(a.Data) {
		big, small, swap = b, a, true
	}
	out := Tensor{Shape: big.Shape, Data: make([]float32, len(big.Data))}
	call := func(x, y float32) float32 {
		if swap {
			return f(y, x)
		}
		return f(x, y)
	}
	switch n := len(small.Data); {
	case n == len(big.Data):
		for i, x := range big.Data {
			out.Data[i] = call(x, small.Data[i])
		}
	case n == 1:
		y := small.Data[0]
		for i, x := range big.Data {
			out.Data[i] = call(x, y)
		}
	case len(big.Shape) > 0 && n == big.Shape[len(big.Shape)-1]:
		for i, x := range big.Data {
			out.Data[i] = call(x, small.Data[i%n])
		}
	default:
		return Tensor{}, fmt.Errorf("cannot broadcast %v with %v", a.Shape, b.Shape)
	}
	return out, nil
}

func pad(a, p Tensor) (Tensor, error) {
	if len(a.Shape) != 4 || size(p.Shape) != 8 {
		return Tensor{}, fmt.Errorf("pad %v by %v: want NHWC and [4,2]", a.Shape, p.Shape)
	}
	pd := make([]int, 8)
	for i, v := range p.Data {
		pd[i] = int(v)
		if pd[i] < 0 || pd[i] > 64 {
			return Tensor{}, fmt.Errorf("padding %v", p.Data)
		}
	}
	if pd[0]+pd[1]+pd[6]+pd[7] != 0 {
		return Tensor{}, fmt.Errorf("padding of batch or channels: %v", p.Data)
	}
	h, w, c := a.Shape[1], a.Shape[2], a.Shape[3]
	oh, ow := h+pd[2]+pd[3], w+pd[4]+pd[5]
	if int64(oh)*int64(ow)*int64(c) > maxValues {
		return Tensor{}, errTooBig
	}
	out := Tensor{Shape: []int{1, oh, ow, c}, Data: make([]float32, oh*ow*c)}
	for y := range h {
		copy(out.Data[((y+pd[2])*ow+pd[4])*c:], a.Data[y*w*c:(y+1)*w*c])
	}
	return out, nil
}

// window returns the output size and the leading padding of a convolution.
func window(in, k, stride int, padding string) (out, before int) {
	if padding == "VALID" {
		return (in-k)/stride + 1, 0
	}
	out = (in + stride - 1) / stride
	total := max(0, (out-1)*stride+k-in)
	return out, total / 2
}

func conv2d(a, w Tensor, sh, sw int, padding string) (Tensor, error) {
	if len(a.Shape) != 4 || len(w.Shape) != 4 || a.Shape[3] != w.Shape[2] {
		return Tensor{}, fmt.Errorf("conv of %v with %v", a.Shape, w.Shape)
	}
	h, wd, cin := a.Shape[1], a.Shape[2], a.Shape[3]
	kh, kw, cout := w.Shape[0], w.Shape[1], w.Shape[3]
	if kh < 1 || kw < 1 || kh > maxKernel || kw > maxKernel || cout < 1 {
		return Tensor{}, fmt.Errorf("kernel %v", w.Shape)
	}
	oh, pt := window(h, kh, sh, padding)
	ow, pl := window(wd, kw, sw, padding)
	if oh <= 0 || ow <= 0 {
		return Tensor{}, fmt.Errorf("conv of %v with %v: empty output", a.Shape, w.Shape)
	}
	if int64(oh)*int64(ow)*int64(cout) > maxValues || int64(oh)*int64(ow)*int64(kh*kw)*int64(max(cin, 1))*int64(cout) > maxWork {
		return Tensor{}, errTooBig
	}
	out := Tensor{Shape: []int{1, oh, ow, cout}, Data: make([]float32, oh*ow*cout)}
	for oy := range oh {
		for ox := range ow {
			acc := out.Data[(oy*ow+ox)*cout : (oy*ow+ox+1)*cout]
			for ky := range kh {
				iy := oy*sh + ky - pt
				if iy < 0 || iy >= h {
					continue
				}
				for kx := range kw {
					ix := ox*sw + kx - pl
					if ix < 0 || ix >= wd {
						continue
					}
					px := a.Data[(iy*wd+ix)*cin : (iy*wd+ix+1)*cin]
					wk := w.Data[(ky*kw+kx)*cin*cout:]
					for ci, x := range px {
						if x == 0 {
							continue
						}
						row := wk[ci*cout : (ci+1)*cout]
						for co, v := range row {
							acc[co] += x * v
						}
					}
				}
			}
		}
	}
	return out, nil
}

func depthwise(a, w Tensor, sh, sw int, padding string) (Tensor, error) {
	if len(a.Shape) != 4 || len(w.Shape) != 4 || a.Shape[3] != w.Shape[2] || w.Shape[3] != 1 {
		return Tensor{}, fmt.Errorf("depthwise conv of %v with %v (multiplier must be 1)", a.Shape, w.Shape)
	}
	h, wd, c := a.Shape[1], a.Shape[2], a.Shape[3]
	kh, kw := w.Shape[0], w.Shape[1]
	if kh < 1 || kw < 1 || kh > maxKernel || kw > maxKernel {
		return Tensor{}, fmt.Errorf("kernel %v", w.Shape)
	}
	oh, pt := window(h, kh, sh, padding)
	ow, pl := window(wd, kw, sw, padding)
	if oh <= 0 || ow <= 0 {
		return Tensor{}, fmt.Errorf("depthwise conv of %v with %v: empty output", a.Shape, w.Shape)
	}
	if int64(oh)*int64(ow)*int64(c) > maxValues || int64(oh)*int64(ow)*int64(kh*kw)*int64(max(c, 1)) > maxWork {
		return Tensor{}, errTooBig
	}
	out := Tensor{Shape: []int{1, oh, ow, c}, Data: make([]float32, oh*ow*c)}
	for oy := range oh {
		for ox := range ow {
			acc := out.Data[(oy*ow+ox)*c : (oy*ow+ox+1)*c]
			for ky := range kh {
				iy := oy*sh + ky - pt
				if iy < 0 || iy >= h {
					continue
				}
				for kx := range kw {
					ix := ox*sw + kx - pl
					if ix < 0 || ix >= wd {
						continue
					}
					px := a.Data[(iy*wd+ix)*c : (iy*wd+ix+1)*c]
					wk := w.Data[(ky*kw+kx)*c : (ky*kw+kx+1)*c]
					for ci, x := range px {
						acc[ci] += x * wk[ci]
					}
				}
			}
		}
	}
	return out, nil
}

func reshape(a, s Tensor) (Tensor, error) {
	shape := make([]int, len(s.Data))
	free := -1
	n := 1
	for i, v := range s.Data {
		shape[i] = int(v)
		if shape[i] == -1 {
			if free >= 0 {
				return Tensor{}, fmt.Errorf("reshape to %v", s.Data)
			}
			free = i
			continue
		}
		n *= shape[i]
	}
	if free >= 0 && n > 0 {
		shape[free] = len(a.Data) / n
	}
	if size(shape) != len(a.Data) {
		return Tensor{}, fmt.Errorf("reshape %v to %v", a.Shape, s.Data)
	}
	return Tensor{Shape: shape, Data: a.Data}, nil
}

func matmul(a, b Tensor, transB bool) (Tensor, error) {
	if len(a.Shape) != 2 || len(b.Shape) != 2 {
		return Tensor{}, fmt.Errorf("matmul of %v and %v", a.Shape, b.Shape)
	}
	m, k := a.Shape[0], a.Shape[1]
	kb, n := b.Shape[0], b.Shape[1]
	if transB {
		kb, n = n, kb
	}
	if k != kb {
		return Tensor{}, fmt.Errorf("matmul of %v and %v", a.Shape, b.Shape)
	}
	if int64(m)*int64(n) > maxValues || int64(m)*int64(max(k, 1))*int64(n) > maxWork {
		return Tensor{}, errTooBig
	}
	out := Tensor{Shape: []int{m, n}, Data: make([]float32, m*n)}
	for i := range m {
		row := out.Data[i*n : (i+1)*n]
		for j := range k {
			x := a.Data[i*k+j]
			if transB {
				for c := range n {
					row[c] += x * b.Data[c*k+j]
				}
				continue
			}
			for c, v := range b.Data[j*n : (j+1)*n] {
				row[c] += x * v
			}
		}
	}
	return out, nil
}
