package recognizer

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	face "github.com/Kagami/go-face"

	"github.com/gated-dev/gated/models"
)

// CustomModelPrefix starts the Model of a Recognizer loaded by LoadCustom:
// "dlib-custom-" and the first 12 hex digits of the network's SHA-256, so
// that templates of two different user-supplied files are never compared.
const CustomModelPrefix = models.DlibCustom + "-"

// LoadCustom is Load with a dlib-format face recognition network that the
// user supplies (for example one retrained with Asian faces, see
// docs/models.md) in place of dlib_face_recognition_resnet_model_v1.dat.
// The network at path must have the SHA-256 the user gives (hex); dlib's
// detector and landmark files come from dir, verified against their pinned
// sums. The network is copied into a private directory while it is hashed,
// so the bytes dlib parses are the bytes checked.
func LoadCustom(dir, path, sha string, opts Options) (*Recognizer, error) {
	sha = strings.ToLower(strings.TrimSpace(sha))
	if b, err := hex.DecodeString(sha); err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("recognizer: custom model SHA-256 %q is not 64 hex digits", sha)
	}
	// dlib's files but its network: the registry's files for DlibCustom.
	custom, _ := models.LookupFaceModel(models.DlibCustom)
	keep := custom.Files
	if err := models.Verify(dir, keep...); err != nil {
		return nil, fmt.Errorf("recognizer: load models: %w", err)
	}
	tmp, err := os.MkdirTemp("", "gated-dlib-custom-")
	if err != nil {
		return nil, fmt.Errorf("recognizer: %w", err)
	}
	defer os.RemoveAll(tmp)
	for _, rel := range keep {
		if _, err := copyHashed(filepath.Join(dir, filepath.FromSlash(rel)), filepath.Join(tmp, filepath.Base(rel))); err != nil {
			return nil, fmt.Errorf("recognizer: %w", err)
		}
	}
	got, err := copyHashed(path, filepath.Join(tmp, filepath.Base(models.DlibResNet)))
	if err != nil {
		return nil, fmt.Errorf("recognizer: custom model: %w", err)
	}
	if got != sha {
		return nil, fmt.Errorf("recognizer: custom model %s: %w: has %s, want %s", path, models.ErrCorrupt, got, sha)
	}
	if opts.MaxSide == 0 {
		opts.MaxSide = 2560
	}
	if opts.MaxSide < 160 {
		return nil, fmt.Errorf("recognizer: MaxSide %d is too small to find faces (at least 160)", opts.MaxSide)
	}
	rec, err := face.NewRecognizer(tmp)
	if err != nil {
		return nil, fmt.Errorf("recognizer: load custom model %s: %w", path, err)
	}
	return &Recognizer{rec: rec, opts: opts, model: CustomModelPrefix + sha[:12]}, nil
}

// copyHashed copies from to to and returns the SHA-256 of the bytes copied.
func copyHashed(from, to string) (string, error) {
	in, err := os.Open(from)
	if err != nil {
		return "", err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := io.Copy(out, io.TeeReader(in, h)); err != nil {
		out.Close()
		return "", err
	}
	if err := out.Close(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Model is the identifier of the descriptors r makes: the package's Model
// for dlib's own network, CustomModelPrefix+... for a LoadCustom one.
func (r *Recognizer) Model() string {
	if r.model == "" {
		return Model
	}
	return r.model
}
