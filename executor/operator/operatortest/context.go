// Package operatortest helps test Sluice operators, built-in or user-written,
// without a runtime: a configurable operator.Context (which also serves as an
// operator.EnumerateEnv), and harness functions that drive an operator, a
// source or a keyed operator with its combiner the way the runtime does.
//
// The harness functions take a testing.TB and fail the test on harness
// problems (a config that does not decode, say). t may be nil outside tests
// (in examples): failures then panic and buckets must be released with
// Context.Close.
package operatortest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/rs/zerolog"
	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"

	"github.com/sluicehq/sluice/executor/operator"
	"github.com/sluicehq/sluice/executor/record"
)

// Context is an operator.Context for tests. Set its exported fields before
// use; the zero values give job "job", vertex "v", subtask 0 of 1, a fresh
// in-memory default bucket and a non-keyed operator.
type Context struct {
	JobID       string // Job(); "" means "job"
	VertexID    string // Vertex(); "" means "v"
	SubtaskID   int    // Subtask()
	NumSubtasks int    // Parallelism(); 0 means 1

	// DefaultBucket is what Bucket("") returns; nil means an in-memory
	// bucket created on first use and closed with the context.
	DefaultBucket *blob.Bucket
	// OpenBucket opens the bucket of a non-empty URL; nil means
	// blob.OpenBucket (mem:// and file:// work when the test imports
	// gocloud.dev/blob/memblob or fileblob). A URL is opened once and its
	// bucket reused, so two operators given "mem://" share a bucket.
	OpenBucket func(ctx context.Context, url string) (*blob.Bucket, error)

	// KeyField makes the context keyed: Key(r) is the value of r's field
	// KeyField (an error if r lacks it).
	KeyField string
	// KeyFunc, if set, computes Key(r) instead of KeyField.
	KeyFunc func(r *record.Record) (record.Key, error)
	// KeyNameField is KeyName(); "" means KeyField, or "key" without one.
	KeyNameField string
	// IsCombined is Combined(): the keyed operator's inputs are partial
	// results of its combiner.
	IsCombined bool

	// Log is Logger(); the zero Logger discards.
	Log zerolog.Logger

	*shared
}

// shared is the state a Context shares with its copies.
type shared struct {
	mu      sync.Mutex
	stdout  bytes.Buffer
	buckets map[string]*blob.Bucket
	owned   []*blob.Bucket
}

// NewContext returns a Context whose buckets are closed when the test ends.
// t may be nil (then call Close).
func NewContext(t testing.TB) *Context {
	c := &Context{Log: zerolog.Nop(), shared: &shared{}}
	if t != nil {
		t.Cleanup(func() {
			if err := c.Close(); err != nil {
				t.Errorf("operatortest: close buckets: %v", err)
			}
		})
	}
	return c
}

// Copy returns a copy of c that shares its buckets and captured stdout; use
// it to give several subtasks or a combiner the same environment.
func (c *Context) Copy() *Context {
	c.init()
	cp := *c
	return &cp
}

// Keyed sets KeyField and returns c, for one-line set-up.
func (c *Context) Keyed(field string) *Context {
	c.KeyField = field
	return c
}

func (c *Context) init() {
	if c.shared == nil {
		c.shared = &shared{}
	}
}

// Job implements operator.Context.
func (c *Context) Job() string { return or(c.JobID, "job") }

// Vertex implements operator.Context.
func (c *Context) Vertex() string { return or(c.VertexID, "v") }

// Subtask implements operator.Context.
func (c *Context) Subtask() int { return c.SubtaskID }

// Parallelism implements operator.Context and operator.EnumerateEnv.
func (c *Context) Parallelism() int { return max(c.NumSubtasks, 1) }

// Logger implements operator.Context and operator.EnumerateEnv.
func (c *Context) Logger() zerolog.Logger { return c.Log }

// Bucket implements operator.Context and operator.EnumerateEnv.
func (c *Context) Bucket(ctx context.Context, url string) (*blob.Bucket, error) {
	c.init()
	c.mu.Lock()
	defer c.mu.Unlock()
	if url == "" && c.DefaultBucket != nil {
		return c.DefaultBucket, nil
	}
	if b, ok := c.buckets[url]; ok {
		return b, nil
	}
	var b *blob.Bucket
	switch {
	case url == "":
		b = memblob.OpenBucket(nil)
	case c.OpenBucket != nil:
		var err error
		if b, err = c.OpenBucket(ctx, url); err != nil {
			return nil, err
		}
	default:
		var err error
		if b, err = blob.OpenBucket(ctx, url); err != nil {
			return nil, err
		}
	}
	if c.buckets == nil {
		c.buckets = map[string]*blob.Bucket{}
	}
	c.buckets[url] = b
	c.owned = append(c.owned, b)
	return b, nil
}

// Stdout implements operator.Context; Output returns what was written.
func (c *Context) Stdout() io.Writer {
	c.init()
	return stdout{c.shared}
}

type stdout struct{ s *shared }

func (w stdout) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	return w.s.stdout.Write(p)
}

// Output returns everything written to Stdout so far.
func (c *Context) Output() string {
	c.init()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stdout.String()
}

// Key implements operator.Context.
func (c *Context) Key(r *record.Record) (record.Key, error) {
	if c.KeyFunc != nil {
		return c.KeyFunc(r)
	}
	if c.KeyField == "" {
		return record.Key{}, errors.New("operatortest: Key called on a context that is not keyed (set KeyField or KeyFunc)")
	}
	v, ok := r.Get(c.KeyField)
	if !ok {
		return record.Key{}, fmt.Errorf("record %s has no key field %q", r, c.KeyField)
	}
	return record.KeyOf(v)
}

// KeyName implements operator.Context.
func (c *Context) KeyName() string {
	if c.KeyNameField != "" {
		return c.KeyNameField
	}
	return or(c.KeyField, "key")
}

// Combined implements operator.Context.
func (c *Context) Combined() bool { return c.IsCombined }

// Close closes the buckets the context opened (not DefaultBucket if it was
// set by the caller). NewContext(t) calls it when the test ends.
func (c *Context) Close() error {
	c.init()
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, b := range c.owned {
		errs = append(errs, b.Close())
	}
	c.owned, c.buckets = nil, nil
	return errors.Join(errs...)
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

var (
	_ operator.Context      = (*Context)(nil)
	_ operator.EnumerateEnv = (*Context)(nil)
)
