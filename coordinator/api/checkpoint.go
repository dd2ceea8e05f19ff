package api

import "time"

// RestoreSource is a complete checkpoint or savepoint to restore from.
type RestoreSource struct {
	// Dir is the checkpoint's directory in the job's bucket
	// ("checkpoints/<job>/chk-7/" or "savepoints/<id>/").
	Dir        string `json:"dir"`
	Checkpoint int64  `json:"checkpoint"`
	// Keyed lists, per keyed vertex, the state pieces of its subtasks.
	Keyed map[string][]KeyedPiece `json:"keyed,omitempty"`
	// Watermark is the smallest subtask watermark at the checkpoint; the
	// restored subtasks start from it, so records that were late before the
	// failure stay late.
	Watermark int64 `json:"watermark"`
}

// KeyedPiece is one subtask's keyed state in a checkpoint.
type KeyedPiece struct {
	Piece   Piece         `json:"piece"`
	Extents []GroupExtent `json:"extents"`
}

// Piece is a checkpoint object with its size and checksum.
type Piece struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// GroupExtent locates one key group's bytes inside a piece.
type GroupExtent struct {
	Group  int   `json:"group"`
	Offset int64 `json:"offset"`
	Length int64 `json:"length"`
}

// Command is sent to executors over GET /v1/internal/commands.
type Command struct {
	Seq int64 `json:"seq"`
	// Checkpoint triggers checkpoint Checkpoint at the sources; Target is
	// the savepoint directory for savepoints.
	Checkpoint int64  `json:"checkpoint,omitempty"`
	Target     string `json:"target,omitempty"`
	Cancel     bool   `json:"cancel,omitempty"`
}

// Commands answers GET /v1/internal/commands.
type Commands struct {
	Commands []Command `json:"commands"`
	// Epoch names the command log. A new leader starts a new log (with a
	// new epoch): an executor that sees the epoch change reads it from the
	// start.
	Epoch string `json:"epoch,omitempty"`
}

// CheckpointAck is a subtask's part of a checkpoint, sent once its state is
// uploaded.
type CheckpointAck struct {
	ExecutorID string                `json:"executorId"`
	Job        string                `json:"job"`
	Attempt    int                   `json:"attempt"`
	Checkpoint int64                 `json:"checkpoint"`
	Pipeline   int                   `json:"pipeline"`
	Index      int                   `json:"index"`
	Keyed      map[string]KeyedPiece `json:"keyed,omitempty"`
	// SourceVertex and Source are the position of a source subtask.
	SourceVertex string          `json:"sourceVertex,omitempty"`
	Source       *SourcePosition `json:"source,omitempty"`
	Commitables  []Commitable    `json:"commitables,omitempty"`
	Watermark    int64           `json:"watermark"`
	MaxEventTime int64           `json:"maxEventTime"`
	SyncMillis   int64           `json:"syncMillis"`
	AsyncMillis  int64           `json:"asyncMillis"`
	Bytes        int64           `json:"bytes"`
	// Error reports a failed snapshot or upload instead.
	Error string `json:"error,omitempty"`
}

// AckResponse answers a CheckpointAck.
type AckResponse struct {
	// LatestCompleted is the newest checkpoint (savepoints do not count) of the job
	// that completed, so that the executor can stop carrying the sink
	// output staged for it and earlier ones (see executor's uploader).
	LatestCompleted int64 `json:"latestCompleted"`
}

// SourcePosition is where a source subtask stood at a checkpoint: it had
// finished Completed of the splits assigned to it in this attempt and had
// read Offset records of split Current ("" between splits).
type SourcePosition struct {
	Completed int    `json:"completed"`
	Current   string `json:"current,omitempty"`
	Offset    int64  `json:"offset"`
}

// Commitable is staged sink output (operator.Commitable on the wire).
type Commitable struct {
	Bucket string `json:"bucket,omitempty"`
	Staged string `json:"staged"`
	Final  string `json:"final"`
}

// CheckpointStatus is one row of GET /v1/jobs/{id}/checkpoints.
type CheckpointStatus struct {
	ID          int64      `json:"id"`
	Status      string     `json:"status"` // IN_PROGRESS, COMPLETED, FAILED
	Savepoint   bool       `json:"savepoint,omitempty"`
	Path        string     `json:"path,omitempty"`
	TriggeredAt time.Time  `json:"triggeredAt"`
	CompletedAt *time.Time `json:"completedAt,omitempty"`
	DurationMs  int64      `json:"durationMs"`
	Bytes       int64      `json:"bytes"`
	Acks        int        `json:"acks"`
	Subtasks    int        `json:"subtasks"`
	Failure     string     `json:"failure,omitempty"`
	// AckedSubtasks lists each acknowledgement.
	AckedSubtasks []SubtaskAck `json:"ackedSubtasks,omitempty"`
}

// SubtaskAck is one subtask's acknowledgement of a checkpoint.
type SubtaskAck struct {
	Pipeline     int   `json:"pipeline"`
	Index        int   `json:"index"`
	Bytes        int64 `json:"bytes"`
	SyncMillis   int64 `json:"syncMillis"`
	AsyncMillis  int64 `json:"asyncMillis"`
	AckedAfterMs int64 `json:"ackedAfterMs"`
}

// Checkpoints answers GET /v1/jobs/{id}/checkpoints.
type Checkpoints struct {
	Completed int                `json:"completed"`
	Failed    int                `json:"failed"`
	History   []CheckpointStatus `json:"history"`
}

// Restart is one restart of a job.
type Restart struct {
	At             time.Time `json:"at"`
	Attempt        int       `json:"attempt"`
	Cause          string    `json:"cause"`
	FromCheckpoint int64     `json:"fromCheckpoint,omitempty"`
}

// SavepointRequest is the body of POST /v1/jobs/{id}/savepoints.
type SavepointRequest struct {
	// Cancel cancels the job once the savepoint is complete.
	Cancel bool `json:"cancel,omitempty"`
}

// SavepointResponse answers it once the savepoint is complete.
type SavepointResponse struct {
	Checkpoint int64  `json:"checkpoint"`
	Dir        string `json:"dir"`
	// URL is what `sluice run --from-savepoint` takes.
	URL string `json:"url"`
}

// CheckpointSummary is the checkpoint part of a job's status.
type CheckpointSummary struct {
	Completed     int    `json:"completed"`
	Failed        int    `json:"failed"`
	LatestID      int64  `json:"latestId,omitempty"`
	LatestDir     string `json:"latestDir,omitempty"`
	Watermark     *int64 `json:"watermark,omitempty"`
	LastEventTime *int64 `json:"lastEventTime,omitempty"`
	InProgress    int64  `json:"inProgress,omitempty"`
}
