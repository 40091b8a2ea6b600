package testenv

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
)

// PNGChunk appends a PNG chunk, with its CRC, to out.
func PNGChunk(out *bytes.Buffer, typ string, data []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(data)))
	out.Write(n[:])
	crc := crc32.NewIEEE()
	crc.Write([]byte(typ))
	crc.Write(data)
	out.WriteString(typ)
	out.Write(data)
	binary.BigEndian.PutUint32(n[:], crc.Sum32())
	out.Write(n[:])
}

// PNGHeader is a PNG signature and IHDR chunk for w x h pixels of 16-bit
// RGBA; interlace 1 makes it Adam7.
func PNGHeader(w, h int, interlace byte) *bytes.Buffer {
	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9], ihdr[12] = 16, 6, interlace
	PNGChunk(&out, "IHDR", ihdr)
	return &out
}

// PNGBomb writes a PNG of w x h 16-bit RGBA pixels, all zero, by hand: the
// decompression bomb of issue 12 (7000x7000 is about 380 KB on disk and
// 392 MB decoded). interlace 1 makes it Adam7. It is built row by row, so
// making it never holds the decoded image.
func PNGBomb(w, h int, interlace byte) []byte {
	out := PNGHeader(w, h, interlace)
	var idat bytes.Buffer
	z := zlib.NewWriter(&idat)
	// Each row is a filter byte 0 and then the pixels; an Adam7 image is
	// seven passes of rows, each pass a sub-image.
	type pass struct{ x, y, dx, dy int }
	passes := []pass{{0, 0, 1, 1}}
	if interlace != 0 {
		passes = []pass{{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}}
	}
	for _, p := range passes {
		pw, ph := (w-p.x+p.dx-1)/p.dx, (h-p.y+p.dy-1)/p.dy
		if pw <= 0 || ph <= 0 {
			continue
		}
		row := make([]byte, 1+8*pw)
		for y := 0; y < ph; y++ {
			z.Write(row) // into a bytes.Buffer: cannot fail
		}
	}
	z.Close()
	PNGChunk(out, "IDAT", idat.Bytes())
	PNGChunk(out, "IEND", nil)
	return out.Bytes()
}
