package recognizer

// DecodeCost and JPEGFrameSize open the header checks of DecodeImage to
// this package's external tests.
var DecodeCost = decodeCost

func JPEGFrameSize(data []byte) (w, h int, err error) {
	f, err := jpegFrameOf(data)
	return f.width, f.height, err
}
