// Package api is Sluice's control plane on the wire: the JSON messages of the
// coordinator's public REST API (/v1/jobs...) and of its internal executor
// protocol (/v1/internal/...), and a Client for both. The coordinator serves
// them; the CLI, the executors and the Functions handler call them.
//
// Versioning: every path starts with /v1; fields are only ever added.
package api

import (
	"time"

	"github.com/sluicehq/sluice/coordinator/jobspec"
	"github.com/sluicehq/sluice/coordinator/plan"
	"github.com/sluicehq/sluice/executor/operator"
)

// JobState is the lifecycle state of a job.
type JobState string

// Job states. A job moves CREATED -> SCHEDULED -> RUNNING -> FINISHED, or to
// CANCELING -> CANCELED, or to FAILING -> FAILED.
const (
	JobCreated    JobState = "CREATED"
	JobScheduled  JobState = "SCHEDULED" // slots requested, executors starting
	JobRunning    JobState = "RUNNING"
	JobFinished   JobState = "FINISHED"
	JobRestarting JobState = "RESTARTING" // executors being replaced after a failure
	JobCanceling  JobState = "CANCELING"
	JobCanceled   JobState = "CANCELED"
	JobFailing    JobState = "FAILING"
	JobFailed     JobState = "FAILED"
)

// Terminal reports whether the job has ended.
func (s JobState) Terminal() bool {
	return s == JobFinished || s == JobCanceled || s == JobFailed
}

// TaskState is the lifecycle state of one subtask.
type TaskState string

// Task states.
const (
	TaskCreated   TaskState = "CREATED"
	TaskDeploying TaskState = "DEPLOYING"
	TaskRunning   TaskState = "RUNNING"
	TaskFinished  TaskState = "FINISHED"
	TaskCanceled  TaskState = "CANCELED"
	TaskFailed    TaskState = "FAILED"
)

// Terminal reports whether the subtask has ended.
func (s TaskState) Terminal() bool {
	return s == TaskFinished || s == TaskCanceled || s == TaskFailed
}

// SubmitResponse answers POST /v1/jobs: 201 Created, or 200 OK when the
// request repeats an earlier one (the same HeaderIdempotencyKey) and ID is
// the job that one created.
type SubmitResponse struct {
	ID string `json:"id"`
}

// HeaderIdempotencyKey is sent with POST /v1/jobs so that the submission
// can be repeated (the client retries it on another node when the leader
// dies mid-request) without creating a second job: every request with the
// same key is answered with the same job id. The key is up to
// MaxIdempotencyKey printable ASCII characters; without it every request
// creates a job.
const HeaderIdempotencyKey = "Idempotency-Key"

// MaxIdempotencyKey bounds the length of an idempotency key.
const MaxIdempotencyKey = 255

// HeaderArchived is "true" on an answer about a job that has ended and
// left the coordinator's store (it was retired): it comes from the job's
// archive in the bucket, as the history server serves it.
const HeaderArchived = "X-Sluice-Archived"

// Error is the body of every 4xx and 5xx answer.
type Error struct {
	Error string `json:"error"`
	// Details lists every problem when there are several (spec validation).
	Details []string `json:"details,omitempty"`
}

// JobSummary is one row of GET /v1/jobs.
type JobSummary struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	State       JobState   `json:"state"`
	SubmittedAt time.Time  `json:"submittedAt"`
	EndedAt     *time.Time `json:"endedAt,omitempty"`
	Error       string     `json:"error,omitempty"`
}

// JobList answers GET /v1/jobs.
type JobList struct {
	Jobs []JobSummary `json:"jobs"`
	// Stale is set when a node that could not reach a leader answered.
	Stale bool `json:"stale,omitempty"`
}

// Job answers GET /v1/jobs/{id}.
type Job struct {
	JobSummary
	StartedAt *time.Time     `json:"startedAt,omitempty"`
	Bucket    string         `json:"bucket"`
	Spec      *jobspec.Spec  `json:"spec"`
	Plan      *plan.Plan     `json:"plan"`
	Vertices  []VertexStatus `json:"vertices"`
	Tasks     []TaskStatus   `json:"tasks"`
	// Executors lists the executor processes of the job.
	Executors []ExecutorStatus `json:"executors"`
	// FirstRecordAt is when the first record was processed, for cold-start
	// measurements.
	FirstRecordAt *time.Time `json:"firstRecordAt,omitempty"`
	// Attempt counts deployments (1 + restarts).
	Attempt int `json:"attempt"`
	// RestoredFrom is the checkpoint the current attempt restored.
	RestoredFrom int64     `json:"restoredFrom,omitempty"`
	Restarts     []Restart `json:"restarts,omitempty"`
	// Warnings are problems that did not fail the job (a corrupt checkpoint
	// skipped during recovery, say).
	Warnings []string `json:"warnings,omitempty"`
	// Checkpoints summarises checkpointing (details at /checkpoints).
	Checkpoints *CheckpointSummary `json:"checkpoints,omitempty"`
	// LastSavepoint is the newest savepoint's URL.
	LastSavepoint string `json:"lastSavepoint,omitempty"`
	// Stale is set when a node that could not reach a leader answered.
	Stale bool `json:"stale,omitempty"`
}

// VertexStatus aggregates a vertex's subtasks.
type VertexStatus struct {
	ID          string  `json:"id"`
	Operator    string  `json:"operator"`
	Parallelism int     `json:"parallelism"`
	Pipeline    int     `json:"pipeline"`
	Metrics     Metrics `json:"metrics"`
	// RecordsInRate and RecordsOutRate are per second, over the last few
	// seconds while the job runs.
	RecordsInRate  float64 `json:"recordsInRate"`
	RecordsOutRate float64 `json:"recordsOutRate"`
}

// Metrics are a vertex's (or one of its subtasks') counters.
type Metrics struct {
	RecordsIn  int64 `json:"recordsIn"`
	RecordsOut int64 `json:"recordsOut"`
	BytesIn    int64 `json:"bytesIn"`
	BytesOut   int64 `json:"bytesOut"`
	// BackpressureMillis is the time spent blocked waiting for downstream
	// credit.
	BackpressureMillis int64 `json:"backpressureMillis"`
	// Counters are the operators' own counters (lateRecords, say).
	Counters map[string]int64 `json:"counters,omitempty"`
}

// Add adds o to m.
func (m *Metrics) Add(o Metrics) {
	m.RecordsIn += o.RecordsIn
	m.RecordsOut += o.RecordsOut
	m.BytesIn += o.BytesIn
	m.BytesOut += o.BytesOut
	m.BackpressureMillis += o.BackpressureMillis
	for k, v := range o.Counters {
		if m.Counters == nil {
			m.Counters = map[string]int64{}
		}
		m.Counters[k] += v
	}
}

// TaskStatus is one subtask.
type TaskStatus struct {
	Pipeline int       `json:"pipeline"`
	Index    int       `json:"index"`
	Vertices []string  `json:"vertices"`
	State    TaskState `json:"state"`
	Executor string    `json:"executor"`
	Attempt  int       `json:"attempt"`
	Error    string    `json:"error,omitempty"`
}

// ExecutorStatus is one executor process.
type ExecutorStatus struct {
	ID       string `json:"id"`
	Slot     int    `json:"slot"`
	PID      int    `json:"pid,omitempty"`
	DataAddr string `json:"dataAddr,omitempty"`
	// Agent is the agent that runs the process, if any.
	Agent string `json:"agent,omitempty"`
	// Exited is set once the process is gone.
	Exited   bool   `json:"exited"`
	ExitInfo string `json:"exitInfo,omitempty"`
	// MaxInflightBytes is the largest amount of data-plane buffer memory the
	// executor held at once.
	MaxInflightBytes int64 `json:"maxInflightBytes"`
	// MaxRSSBytes is the process's peak resident memory, as last reported.
	MaxRSSBytes int64 `json:"maxRssBytes"`
}

// CancelResponse answers POST /v1/jobs/{id}/cancel.
type CancelResponse struct {
	ID    string   `json:"id"`
	State JobState `json:"state"`
}

// --- internal executor protocol ---

// RegisterRequest is sent by an executor once its data port is open.
type RegisterRequest struct {
	ExecutorID string `json:"executorId"`
	Job        string `json:"job"`
	Slot       int    `json:"slot"`
	Attempt    int    `json:"attempt"`
	DataAddr   string `json:"dataAddr"`
	PID        int    `json:"pid"`
}

// Deployment tells an executor what to run. It answers
// GET /v1/internal/deployment once every executor of the job has registered.
type Deployment struct {
	Job        string           `json:"job"`
	Attempt    int              `json:"attempt"`
	ExecutorID string           `json:"executorId"`
	Slot       int              `json:"slot"`
	Bucket     string           `json:"bucket"`
	Spec       *jobspec.Spec    `json:"spec"`
	Plan       *plan.Plan       `json:"plan"`
	Subtasks   []plan.SubtaskID `json:"subtasks"`
	Peers      map[int]string   `json:"peers"` // slot -> data address
	Cancel     bool             `json:"cancel,omitempty"`
	// Restore names the checkpoint or savepoint whose keyed state the
	// subtasks load before they start.
	Restore *RestoreSource `json:"restore,omitempty"`
	// AtLeastOnce turns barrier alignment off.
	AtLeastOnce bool `json:"atLeastOnce,omitempty"`
}

// TaskMetrics are the counters of one subtask, per vertex of its pipeline.
type TaskMetrics struct {
	Pipeline int                `json:"pipeline"`
	Index    int                `json:"index"`
	Vertices map[string]Metrics `json:"vertices"`
	// FirstRecordAt is when the subtask's first operator first handled a
	// record (zero before).
	FirstRecordAt time.Time `json:"firstRecordAt,omitzero"`
}

// Heartbeat is sent by an executor periodically and once more before it
// exits.
type Heartbeat struct {
	ExecutorID       string        `json:"executorId"`
	Job              string        `json:"job"`
	Tasks            []TaskMetrics `json:"tasks"`
	InflightBytes    int64         `json:"inflightBytes"`
	MaxInflightBytes int64         `json:"maxInflightBytes"`
	// MaxRSSBytes is the executor process's peak resident memory.
	MaxRSSBytes int64 `json:"maxRssBytes"`
	Final       bool  `json:"final,omitempty"`
}

// HeartbeatResponse tells the executor what to do.
type HeartbeatResponse struct {
	// Cancel asks the executor to cancel its subtasks and exit.
	Cancel bool `json:"cancel"`
}

// TaskUpdate reports a subtask's state change.
type TaskUpdate struct {
	ExecutorID string      `json:"executorId"`
	Job        string      `json:"job"`
	Attempt    int         `json:"attempt"`
	Pipeline   int         `json:"pipeline"`
	Index      int         `json:"index"`
	State      TaskState   `json:"state"`
	Error      string      `json:"error,omitempty"`
	Metrics    TaskMetrics `json:"metrics"`
	// Commitables are what a finished subtask's sinks staged after the last
	// checkpoint; the coordinator commits them when the job finishes.
	Commitables []Commitable `json:"commitables,omitempty"`
}

// SplitRequest asks for the next input split of a source subtask.
type SplitRequest struct {
	ExecutorID string `json:"executorId"`
	Job        string `json:"job"`
	Vertex     string `json:"vertex"`
	Subtask    int    `json:"subtask"`
	// Have is how many splits this subtask already received in its
	// attempt, so that a retried request gets the same answer.
	Have *int `json:"have,omitempty"`
}

// SplitResponse carries the next split, or Done when no split is left.
type SplitResponse struct {
	Split *operator.Split `json:"split,omitempty"`
	// Skip is how many records of Split were read before a recovery.
	Skip int64 `json:"skip,omitempty"`
	Done bool  `json:"done"`
	// Wait says a continuous source has no new split yet.
	Wait bool `json:"wait,omitempty"`
}
