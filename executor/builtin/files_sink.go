package builtin

import (
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/executor/operator"
)

// FilesSinkConfig configures the files sink, which writes records as part
// objects under a prefix.
//
// The sink is exactly-once (operator.Committer). Records go to a staged
// object, hidden under the prefix (readers and the files source skip path
// elements that start with '_'):
//
//	<prefix>_staging/<job>/a<attempt>/<vertex>-<subtask>-<attempt nonce>-<seq>.<ext>
//
// PrepareCommit(n) closes (uploads) the staged object and returns it with
// its final name:
//
//	<prefix>part-<vertex>-<subtask %05d>-<n %06d>.<ext>  (checkpoint n)
//	<prefix>part-<vertex>-<subtask %05d>-final.<ext>     (after EndInput)
//
// and the next record opens a new staged object, so each checkpoint
// interval that had records gives one part per subtask. Once checkpoint n
// is complete the coordinator copies each staged object to its final name
// if that name is absent (create-if-absent) and deletes the staged one.
// Close without PrepareCommit aborts the current write: a failed subtask
// leaves no partial object, and staged objects of checkpoints that never
// complete are never made visible.
//
// Why commits are idempotent: the final name is a pure function of the
// job's prefix, the vertex, the subtask index and the checkpoint id, with
// nothing of the attempt, the clock or chance in it. Checkpoint ids are
// never reused within a job (a restore from checkpoint n goes on with ids
// above n), so a final name belongs to one checkpoint of one subtask:
// names never collide across checkpoints, subtasks, parallelisms or
// restarts. Committing the same checkpoint again (a coordinator that fails
// over mid-commit, a CheckpointCompleted applied twice) finds the final
// object present and changes nothing; a restarted attempt that stages the
// same id again (FinalCheckpoint, whose commit happens once, when the job
// has finished) maps to the same name, so at most one copy is ever
// visible. Staged names, in turn, carry a random per-attempt nonce, so a
// zombie attempt can never overwrite what the current attempt staged.
//
// Staged objects that will never be committed (those of a checkpoint that
// failed, or that an attempt staged after its last complete checkpoint
// before it was killed, or of a job cancelled or failed) are deleted by
// the coordinator, which knows the area (operator.Definition.Staging) and
// which attempt staged an object (its a<attempt> directory): when it
// restarts the job, from the attempts that ended, once the restored
// checkpoint is committed and before the next attempt starts; when the
// job ends, everything, once every commit is done. Objects that a complete
// checkpoint or savepoint references but that are not committed yet stay.
// A zombie executor of an ended attempt (one the coordinator counts as
// exited but that still runs, on an agent cut off from it, say) may stage
// an object after the restart's clean-up; it is never committed (its
// acknowledgements are refused) and the clean-up at the next restart or
// at the job's end deletes it.
//
// Empty parts: a checkpoint interval without records stages nothing, but at
// FinalCheckpoint a subtask that staged nothing at all in this attempt
// stages an empty part (with the CSV header, if configured), so that every
// subtask of a bounded job leaves at least one part and readers of an
// empty result still find its header.
type FilesSinkConfig struct {
	// Bucket is the bucket URL; "" is the job's default bucket.
	Bucket string `json:"bucket"`
	// Prefix starts the object names; "{job}" in it is replaced by the job
	// id, and a '/' is added unless it is empty or ends with one. Jobs
	// that write to one prefix should put "{job}" in it: part names are
	// only unique within a job.
	Prefix string `json:"prefix"`
	// Format is "jsonl" (a JSON object per line), "csv" or "text" (the
	// values of Fields, or of all fields, separated by tabs: with one field,
	// the bare value).
	Format string `json:"format"`
	// Fields selects the fields to write and their order; csv requires it.
	// Missing fields are written as null (jsonl) or empty (csv, text).
	Fields []string `json:"fields"`
	// Header writes the field names as the first row of every part (csv
	// only).
	Header bool `json:"header"`
}

// Formats of the files sink.
const (
	formatJSONL = "jsonl"
	formatCSV   = "csv"
	formatText  = "text"
)

// Validate implements operator.Validator.
func (c *FilesSinkConfig) Validate() error {
	var errs []error
	errs = append(errs, required("prefix", c.Prefix))
	switch c.Format {
	case formatJSONL, formatText:
	case formatCSV:
		if len(c.Fields) == 0 {
			errs = append(errs, operator.Errorf("fields", "required by format %q", formatCSV))
		}
	default:
		errs = append(errs, operator.Errorf("format", "must be %q, %q or %q, not %q", formatJSONL, formatCSV, formatText, c.Format))
	}
	if c.Header && c.Format != formatCSV {
		errs = append(errs, operator.Errorf("header", "only format %q has a header", formatCSV))
	}
	seen := map[string]bool{}
	for i, f := range c.Fields {
		field := fmt.Sprintf("fields[%d]", i)
		switch {
		case f == "":
			errs = append(errs, operator.Errorf(field, "empty field name"))
		case seen[f]:
			errs = append(errs, operator.Errorf(field, "duplicate field %q", f))
		}
		seen[f] = true
	}
	return errors.Join(errs...)
}

func newFilesSinkConfig() *FilesSinkConfig { return &FilesSinkConfig{Format: formatJSONL} }

func filesSinkDef() operator.Definition {
	return operator.Definition{
		Name: FilesSink,
		Kind: operator.KindSink,
		Doc: "Writes records exactly once as jsonl, csv or text part objects, " +
			"<prefix>part-<vertex>-<subtask>-<checkpoint|final>.<ext>: each appears when its checkpoint " +
			"(or the job) completes.",
		NewConfig:   func() any { return newFilesSinkConfig() },
		NewOperator: newFilesSink,
		Staging:     filesStaging,
	}
}
