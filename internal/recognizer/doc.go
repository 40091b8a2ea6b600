// Package recognizer turns images into face descriptors: it validates and
// decodes photos, finds faces and computes their 128-dimensional dlib
// descriptors through go-face, and judges whether a capture is good enough
// to enroll.
//
// It owns the only cgo in gated (dlib through github.com/Kagami/go-face,
// OpenCV through gocv.io/x/gocv), together with its camera subpackage. It
// never stores an image or a descriptor, never logs one, and never decides
// who a face belongs to: package match does that.
//
// # Caveats
//
// go-face decodes JPEG in C++. Untrusted bytes never reach it: DecodeImage
// decodes in Go, and what go-face sees is a JPEG that gocv encoded from
// already validated pixels. A Mat returned by this package must be closed by
// the caller.
package recognizer
