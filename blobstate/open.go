package blobstate

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/blob/memblob"
)

// Options tune how a bucket is opened. The zero value is what Sluice's
// processes use.
type Options struct {
	// Retry bounds the retries of transient storage errors.
	Retry Retry
	// CreateContainer creates a missing azblob container instead of failing.
	// For tests and benchmarks: deployments create their containers
	// (terraform/), and a typo in a bucket URL must not create a new one.
	CreateContainer bool
	// Getenv reads the Azure credentials and service settings; nil means
	// os.Getenv.
	Getenv func(string) string
}

func (o Options) getenv(k string) string {
	if o.Getenv == nil {
		return os.Getenv(k)
	}
	return o.Getenv(k)
}

// Bucket is an open bucket: the *blob.Bucket that operators read and write,
// plus Sluice's own whole-object operations (Write, WriteOnce, CopyOnce,
// Read, List, Delete), which retry transient errors and know how each kind
// of bucket makes a write exclusive. Those take keys that no backend
// escapes, so that every backend stores them under the same name: UTF-8,
// no control characters, none of \ " # % ?, no empty, "." or ".." path
// segments, no leading or trailing "/", no "__0x", not ending in ".attrs".
// Its methods may be called from several goroutines at once.
type Bucket struct {
	url    string // normalized
	name   string // url without query parameters, for messages
	bucket *blob.Bucket
	kind   kind
	dir    string            // file: the root directory
	azure  *container.Client // azblob: the container
	retry  Retry
}

type kind int

const (
	kindFile kind = iota
	kindMem
	kindAzure
)

// Open opens the bucket at rawURL and returns the *blob.Bucket alone, for
// callers that need nothing else (executors, the coordinator). See
// OpenBucket.
func Open(ctx context.Context, rawURL string) (*blob.Bucket, error) {
	b, err := OpenBucket(ctx, rawURL, Options{})
	if err != nil {
		return nil, err
	}
	return b.Blob(), nil
}

// OpenBucket opens the bucket at rawURL: a file:// URL or a plain path (a
// directory that must exist), an azblob:// URL (a container that must
// exist, unless o.CreateContainer), or mem:// (a new, empty bucket each
// time).
func OpenBucket(ctx context.Context, rawURL string, o Options) (*Bucket, error) {
	norm, err := Normalize(rawURL)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(norm)
	if err != nil {
		return nil, fmt.Errorf("bucket URL %q: %w", rawURL, err)
	}
	b := &Bucket{url: norm, name: displayName(u), retry: o.Retry.withDefaults()}
	switch u.Scheme {
	case "file":
		b.kind = kindFile
		err = b.openFile(u)
	case "mem":
		if len(u.Query()) > 0 {
			return nil, fmt.Errorf("open bucket %s: mem:// takes no parameters", rawURL)
		}
		b.kind = kindMem
		b.bucket = memblob.OpenBucket(nil)
	case "azblob":
		b.kind = kindAzure
		err = b.openAzure(ctx, u, o)
	}
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", b.name, err)
	}
	return b, nil
}

// openFile opens a directory bucket. Writes made through *blob.Bucket keep
// no .attrs sidecar files next to users' outputs.
func (b *Bucket) openFile(u *url.URL) error {
	dir := filepath.FromSlash(u.Path)
	if u.Host == "." { // file://./relative/dir
		dir = strings.TrimPrefix(dir, string(filepath.Separator))
	}
	st, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	b.dir = filepath.Clean(dir)
	opts := &fileblob.Options{Metadata: fileblob.MetadataDontWrite}
	q := u.Query()
	for k := range q {
		switch k {
		case "metadata":
			switch q.Get(k) {
			case "skip":
			case "":
				opts.Metadata = fileblob.MetadataInSidecar
			default:
				return fmt.Errorf("parameter metadata=%q: use skip (the default) or an empty value (sidecar .attrs files)", q.Get(k))
			}
		case "no_tmp_dir":
			opts.NoTempDir = q.Get(k) != ""
		default:
			return fmt.Errorf("unknown parameter %q (file:// buckets take metadata and no_tmp_dir)", k)
		}
	}
	sweepStaging(b.dir)
	b.bucket, err = fileblob.OpenBucket(b.dir, opts)
	return err
}

// Blob returns the gocloud bucket, for reading and writing objects as
// streams. Closing the Bucket closes it.
func (b *Bucket) Blob() *blob.Bucket { return b.bucket }

// URL returns the bucket's normalized URL.
func (b *Bucket) URL() string { return b.url }

// String returns the bucket's URL without its query parameters.
func (b *Bucket) String() string { return b.name }

// Close closes the bucket.
func (b *Bucket) Close() error { return b.bucket.Close() }

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
	if u.Fragment != "" {
		return "", fmt.Errorf("bucket URL %q: unexpected fragment #%s", raw, u.Fragment)
	}
	return raw, nil
}

// displayName is the URL without its query: what error messages show.
func displayName(u *url.URL) string {
	v := *u
	v.RawQuery, v.Fragment = "", ""
	return v.String()
}
