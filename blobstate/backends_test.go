package blobstate_test

import (
	"context"
	"testing"

	"github.com/sluicehq/sluice/blobstate"
	"github.com/sluicehq/sluice/blobstate/blobstatetest"
)

// backends opens a fresh, empty bucket of each kind. Azurite's is skipped
// unless make test (or SLUICE_TEST_AZURITE) provides one.
var backends = []struct {
	name string
	open func(t *testing.T) *blobstate.Bucket
}{
	{"mem", func(t *testing.T) *blobstate.Bucket { return openBucket(t, "mem://") }},
	{"file", func(t *testing.T) *blobstate.Bucket { return openBucket(t, t.TempDir()) }},
	{"azurite", func(t *testing.T) *blobstate.Bucket { return openBucket(t, blobstatetest.NewContainer(t)) }},
}

// forEachBackend runs f as a subtest on a fresh bucket of each kind.
func forEachBackend(t *testing.T, f func(t *testing.T, b *blobstate.Bucket)) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) { f(t, be.open(t)) })
	}
}

func openBucket(t *testing.T, url string) *blobstate.Bucket {
	t.Helper()
	b, err := blobstate.OpenBucket(context.Background(), url, blobstate.Options{Getenv: blobstatetest.Getenv})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}
