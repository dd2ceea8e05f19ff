// Package blobstate owns Sluice's use of the bucket: opening bucket URLs
// (file://, azblob://, mem://) with clear errors, and, as later issues add
// them, the checkpoint and savepoint layout, checksummed writes and
// retention.
package blobstate

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"gocloud.dev/blob"
)

// Open opens the bucket at rawURL. A plain path (no scheme) is taken as a
// local directory. A file:// bucket must exist as a directory.
func Open(ctx context.Context, rawURL string) (*blob.Bucket, error) {
	u, err := Normalize(rawURL)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(u, "file://") {
		pu, _ := url.Parse(u)
		st, err := os.Stat(pu.Path)
		if err != nil {
			return nil, fmt.Errorf("open bucket %s: %w", rawURL, err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("open bucket %s: %s is not a directory", rawURL, pu.Path)
		}
	}
	if strings.HasPrefix(u, "file://") && !strings.Contains(u, "metadata=") {
		// no .attrs sidecar files next to users' outputs
		if strings.Contains(u, "?") {
			u += "&metadata=skip"
		} else {
			u += "?metadata=skip"
		}
	}
	b, err := blob.OpenBucket(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", rawURL, err)
	}
	return b, nil
}

// Normalize turns a local path into a file:// URL with an absolute path and
// checks that a URL has a scheme Sluice links in.
func Normalize(raw string) (string, error) {
	if raw == "" {
		return "", fmt.Errorf("empty bucket URL")
	}
	if !strings.Contains(raw, "://") {
		abs, err := filepath.Abs(raw)
		if err != nil {
			return "", fmt.Errorf("bucket path %q: %w", raw, err)
		}
		return "file://" + filepath.ToSlash(abs), nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("bucket URL %q: %w", raw, err)
	}
	switch u.Scheme {
	case "file", "azblob", "mem":
	default:
		return "", fmt.Errorf("bucket URL %q: unsupported scheme %q (use file://, azblob:// or mem://)", raw, u.Scheme)
	}
	return raw, nil
}
