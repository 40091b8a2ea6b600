package store

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	if helper := os.Getenv(helperEnv); helper != "" {
		os.Exit(runHelper(helper))
	}
	code := m.Run()
	if galleryStore.dir != "" {
		os.RemoveAll(galleryStore.dir)
	}
	if auditStore.dir != "" {
		os.RemoveAll(auditStore.dir)
	}
	os.Exit(code)
}
