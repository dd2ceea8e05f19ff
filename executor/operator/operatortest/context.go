// Package operatortest helps test Sluice operators, built-in or user-written,
// without a runtime: a configurable operator.Context (which also serves as an
// operator.EnumerateEnv), and harness functions that drive an operator, a
// source or a keyed operator with its combiner the way the runtime does,
// through event-time scenarios (RunSteps: records interleaved with
// watermarks), through checkpoints, failures and restores of keyed state
// (RunRecovered, Rescale), and the commit of an exactly-once sink's staged
// output (Commit).
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
	"math"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rs/zerolog"
	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"

	"github.com/sluicehq/sluice/executor/operator"
	"github.com/sluicehq/sluice/executor/record"
	"github.com/sluicehq/sluice/executor/state"
)

// Context is an operator.Context for tests. Set its exported fields before
// use; the zero values give job "job", vertex "v", subtask 0 of 1, 128 key
// groups, a fresh in-memory default bucket and a non-keyed operator.
//
// Side outputs, counters, the watermark and a keyed state created on first
// use belong to one Context: a Copy starts without them.
type Context struct {
	JobID       string // Job(); "" means "job"
	VertexID    string // Vertex(); "" means "v"
	SubtaskID   int    // Subtask()
	NumSubtasks int    // Parallelism(); 0 means 1
	AttemptNo   int    // Attempt(); 0 means 1

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

	// MaxKeyGroups is MaxParallelism(); 0 means 128.
	MaxKeyGroups int
	// Backend is KeyedState() of a keyed context (one with KeyField or
	// KeyFunc); nil means a fresh backend, created on first use. Set it to
	// a restored backend (see Rescale) to test recovery.
	Backend *state.Backend

	// Log is Logger(); the zero Logger discards.
	Log zerolog.Logger

	*shared
	own *local
}

// local is the state of one Context, not shared with its copies.
type local struct {
	backend  *state.Backend
	sides    map[string]*Collector
	counters map[string]*atomic.Int64
	wm       int64
	wmSet    bool
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
	cp.own = &local{}
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
	if c.own == nil {
		c.own = &local{}
	}
}

// Job implements operator.Context.
func (c *Context) Job() string { return or(c.JobID, "job") }

// Vertex implements operator.Context.
func (c *Context) Vertex() string { return or(c.VertexID, "v") }

// Subtask implements operator.Context.
func (c *Context) Subtask() int { return c.SubtaskID }

// Attempt implements operator.Context.
func (c *Context) Attempt() int { return max(c.AttemptNo, 1) }

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

// MaxParallelism implements operator.Context.
func (c *Context) MaxParallelism() int {
	if c.MaxKeyGroups > 0 {
		return c.MaxKeyGroups
	}
	return 128
}

// IsKeyed reports whether the context is keyed (KeyField or KeyFunc set).
func (c *Context) IsKeyed() bool { return c.KeyField != "" || c.KeyFunc != nil }

// KeyedState implements operator.Context: Backend, or a backend created on
// first use, for a keyed context; nil otherwise.
func (c *Context) KeyedState() *state.Backend {
	if !c.IsKeyed() {
		return nil
	}
	if c.Backend != nil {
		return c.Backend
	}
	c.init()
	if c.own.backend == nil {
		c.own.backend = state.NewBackend(c.MaxParallelism())
	}
	return c.own.backend
}

// SideOutput implements operator.Context: each name collects its records;
// SideRecords returns them.
func (c *Context) SideOutput(name string) operator.Emitter {
	c.init()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.own.sides == nil {
		c.own.sides = map[string]*Collector{}
	}
	col := c.own.sides[name]
	if col == nil {
		col = &Collector{}
		c.own.sides[name] = col
	}
	return col
}

// SideRecords returns the records sent to the named side output so far.
func (c *Context) SideRecords(name string) []*record.Record {
	c.init()
	c.mu.Lock()
	col := c.own.sides[name]
	c.mu.Unlock()
	if col == nil {
		return nil
	}
	return col.Records()
}

// Counter implements operator.Context; CounterValue reads a counter.
func (c *Context) Counter(name string) *atomic.Int64 {
	c.init()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.own.counters == nil {
		c.own.counters = map[string]*atomic.Int64{}
	}
	n := c.own.counters[name]
	if n == nil {
		n = new(atomic.Int64)
		c.own.counters[name] = n
	}
	return n
}

// CounterValue returns the named counter's value (0 if never created).
func (c *Context) CounterValue(name string) int64 {
	c.init()
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := c.own.counters[name]; n != nil {
		return n.Load()
	}
	return 0
}

// Watermark implements operator.Context: the last SetWatermark, or
// math.MinInt64.
func (c *Context) Watermark() int64 {
	c.init()
	if !c.own.wmSet {
		return math.MinInt64
	}
	return c.own.wm
}

// SetWatermark sets what Watermark returns. RunSteps calls it before each
// ProcessWatermark, as the runtime does.
func (c *Context) SetWatermark(wm int64) {
	c.init()
	c.own.wm, c.own.wmSet = wm, true
}

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
