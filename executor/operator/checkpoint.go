package operator

import (
	"strconv"
	"strings"
)

// Checkpoints, event time and exactly-once output: optional interfaces that
// operators and sources implement when they need them. The runtime checks
// for them with type assertions. All methods are called on the subtask's
// goroutine, never concurrently with Process.
//
// What the runtime does at checkpoint n, for each chained operator from head
// to tail, once barrier n has arrived on every input (aligned):
//
//  1. BarrierFlusher.FlushBeforeBarrier(n): emit buffered records (a
//     combiner's partial results) so they precede the barrier downstream;
//  2. Committer.PrepareCommit(n): a sink closes what it staged since the
//     previous checkpoint and returns it; the coordinator commits it once
//     checkpoint n is complete;
//  3. the keyed state (Context.KeyedState) is snapshotted by key group, and
//     the source's split positions are recorded;
//  4. the barrier is forwarded to every output.
//
// On recovery, keyed state is restored into Context.KeyedState before Open,
// source splits are rewound, and nothing else is restored: staged output of
// the restored checkpoint has been committed by the coordinator, and output
// staged after it is discarded.

// FinalCheckpoint is the id PrepareCommit gets after EndInput: what remains
// is committed when the whole job has finished.
const FinalCheckpoint int64 = -1

// WatermarkHandler is implemented by operators that act on event time.
type WatermarkHandler interface {
	// ProcessWatermark is called when the watermark of the operator's input
	// advances to wm (milliseconds since the epoch): no record with an event
	// time <= wm is expected any more; later ones are late. Records emitted
	// during the call precede the watermark downstream. The runtime forwards
	// the watermark after the call.
	ProcessWatermark(wm int64) error
}

// BarrierFlusher is implemented by operators that hold records back (a
// combiner, for instance) and must emit them before a checkpoint barrier.
type BarrierFlusher interface {
	FlushBeforeBarrier(checkpoint int64) error
}

// Commitable is output staged by a sink, to be made visible once its
// checkpoint is complete: the coordinator copies Staged to Final with
// create-if-absent and deletes Staged, so committing twice is harmless.
type Commitable struct {
	// Bucket is the bucket URL; "" is the job's default bucket.
	Bucket string `json:"bucket,omitempty"`
	Staged string `json:"staged"`
	Final  string `json:"final"`
}

// Committer is implemented by exactly-once sinks.
type Committer interface {
	// PrepareCommit finishes everything staged since the previous call and
	// returns it. id is the checkpoint, or FinalCheckpoint after EndInput.
	PrepareCommit(id int64) ([]Commitable, error)
}

// StagingArea is where an exactly-once sink stages its output for one job
// (Definition.Staging): every object under Prefix in Bucket is staged
// output of that job, in the directory of the attempt that staged it,
// AttemptDir(attempt). The coordinator deletes what no complete checkpoint
// will commit: when it restarts the job, the objects of the attempts that
// ended (before the next one starts); when the job ends, everything left.
type StagingArea struct {
	// Bucket is the bucket URL; "" is the job's default bucket.
	Bucket string
	// Prefix ends with '/' and names a path element that is the job id, so
	// that no two jobs share an area.
	Prefix string
}

// AttemptDir is the key prefix under which attempt (Context.Attempt)
// stages its objects: Prefix + "a<attempt>/".
func (a StagingArea) AttemptDir(attempt int) string {
	return a.Prefix + "a" + strconv.Itoa(attempt) + "/"
}

// Attempt returns the attempt that staged key, read from its directory
// under Prefix; ok is false for a key outside the area or outside every
// attempt's directory.
func (a StagingArea) Attempt(key string) (attempt int, ok bool) {
	rest, ok := strings.CutPrefix(key, a.Prefix)
	if !ok {
		return 0, false
	}
	dir, _, ok := strings.Cut(rest, "/")
	digits, isAttempt := strings.CutPrefix(dir, "a")
	if !ok || !isAttempt {
		return 0, false
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n < 1 || strconv.Itoa(n) != digits {
		return 0, false
	}
	return n, true
}

// SplitAdvancer is implemented by sources that can skip into a split
// cheaply: Advance returns the part of s that follows its first n records.
// Sources without it are rewound by reading the split again and dropping
// its first n records.
type SplitAdvancer interface {
	Advance(s Split, n int64) (Split, error)
}
