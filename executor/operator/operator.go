// Package operator is the API between Sluice's runtime and the operators that
// run inside it: sources, transforms and sinks. Built-in operators
// (executor/builtin) use it exactly as user code does: implement Operator or
// Source, describe it with a Definition, add it to a Registry, and pass that
// registry to the sluice command (see examples/customop).
//
// Concurrency: the runtime calls an operator's methods from one goroutine,
// the subtask's, in the order Open, Process*, EndInput, Close (Close also after
// a failure, and without EndInput when the job is cancelled).
package operator

import (
	"context"
	"encoding/json"
	"io"
	"sync/atomic"

	"github.com/rs/zerolog"
	"gocloud.dev/blob"

	"github.com/sluicehq/sluice/executor/record"
	"github.com/sluicehq/sluice/executor/state"
)

// Emitter receives the records an operator produces. The record passed to
// Emit may be reused by the caller once Emit returns, so a receiver that keeps
// it must Clone it. An error from Emit (the job is cancelled, a downstream
// operator failed) must be returned by the operator.
type Emitter interface {
	Emit(r *record.Record) error
}

// EmitterFunc adapts a function to Emitter.
type EmitterFunc func(r *record.Record) error

// Emit calls f(r).
func (f EmitterFunc) Emit(r *record.Record) error { return f(r) }

// Context tells an operator where it runs and gives it the runtime's services.
type Context interface {
	// Job is the job id.
	Job() string
	// Vertex is the id of the operator's vertex in the job spec.
	Vertex() string
	// Subtask is this parallel instance's index, in [0, Parallelism()).
	Subtask() int
	// Attempt is the job's deployment attempt: 1 for the first, one more
	// after each restart. Every subtask of an attempt sees the same number.
	Attempt() int
	// Parallelism is the vertex's parallelism.
	Parallelism() int
	// Logger carries the job, vertex and subtask fields.
	Logger() zerolog.Logger
	// Bucket opens the bucket at url, or the job's default bucket for "".
	// The runtime owns the bucket and closes it when the subtask ends.
	Bucket(ctx context.Context, url string) (*blob.Bucket, error)
	// Stdout is where the print sink writes.
	Stdout() io.Writer
	// Key returns the partitioning key of a record, as defined by the hash
	// edges into a keyed operator. It fails for non-keyed operators.
	Key(r *record.Record) (record.Key, error)
	// KeyName is the field name under which a keyed operator outputs the key:
	// the key field of the hash edge, or "key" when the key is an expression.
	KeyName() string
	// Combined reports that the runtime runs this keyed operator's combiner
	// before the shuffle, so every input record is a partial result produced
	// by the combiner rather than a raw input record.
	Combined() bool
	// MaxParallelism is the job's number of key groups.
	MaxParallelism() int
	// KeyedState is the subtask's checkpointed keyed state (nil for
	// operators that are not keyed). Create states in Open; after a
	// recovery they already hold the restored entries.
	KeyedState() *state.Backend
	// SideOutput returns the emitter for the edges that leave this vertex
	// with "output": name. Records sent to a side output without edges are
	// dropped (and counted).
	SideOutput(name string) Emitter
	// Counter returns a named counter reported with the vertex's metrics
	// (late records, say). Safe for concurrent use.
	Counter(name string) *atomic.Int64
	// Watermark is the current event-time watermark of the operator's input
	// (math.MinInt64 before the first one).
	Watermark() int64
}

// Operator is a transform or a sink: it consumes records and, unless it is a
// sink, emits records.
type Operator interface {
	// Open prepares the operator. ctx lives as long as the subtask runs and
	// may be kept. Sinks get an Emitter that discards.
	Open(ctx context.Context, oc Context, out Emitter) error
	// Process handles one input record (valid only during the call).
	Process(r *record.Record) error
	// EndInput is called once every input is exhausted (bounded jobs): emit
	// final results and flush.
	EndInput() error
	// Close releases resources. It is called once, also after failures.
	Close() error
}

// Split is a piece of a source's input (a byte range of a file, a range of
// generated ids) that the coordinator hands to one source subtask. Data is
// owned by the source that made it.
type Split struct {
	ID   string          `json:"id"`
	Data json.RawMessage `json:"data"`
}

// Source reads splits and emits their records.
type Source interface {
	// Open prepares the source; ctx lives as long as the subtask runs.
	Open(ctx context.Context, oc Context) error
	// ReadSplit emits every record of the split and returns when the split is
	// done, ctx is cancelled, or out fails. For an unbounded split it returns
	// only on cancellation or error.
	ReadSplit(ctx context.Context, s Split, out Emitter) error
	// Close releases resources. It is called once, also after failures.
	Close() error
}

// EnumerateEnv is what a source's split enumerator gets on the coordinator.
type EnumerateEnv interface {
	// Bucket opens the bucket at url, or the job's default bucket for "".
	// The caller owns nothing: the environment closes buckets.
	Bucket(ctx context.Context, url string) (*blob.Bucket, error)
	// Parallelism is the source vertex's parallelism.
	Parallelism() int
	// Logger for the enumerator.
	Logger() zerolog.Logger
}
