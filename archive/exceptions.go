package archive

import "time"

// Exceptions answers GET /v1/jobs/{id}/exceptions, on the coordinator for
// any job and on the history server for archived ones.
type Exceptions struct {
	// RootCause is what ended the job: for a failed job, the first subtask
	// failure of the last attempt, or the job's error when no subtask
	// failed. Nil when nothing failed.
	RootCause *Exception `json:"rootCause,omitempty"`
	// History lists every failure known, oldest first: restarts with their
	// causes, subtask failures and abnormal executor exits of the last
	// attempt, and the job's own error.
	History []Exception `json:"history"`
}

// Exception is one failure.
type Exception struct {
	// At is when it happened, when known.
	At time.Time `json:"at,omitzero"`
	// Attempt is the attempt (1 + restarts before it) it ended.
	Attempt int `json:"attempt,omitempty"`
	// Kind is "restart", "task", "executor" or "job".
	Kind string `json:"kind"`
	// Task names the subtask, as "lines->words[1]", for kind "task".
	Task string `json:"task,omitempty"`
	// Executor names the executor process, for kinds "task" and
	// "executor".
	Executor string `json:"executor,omitempty"`
	// Message is the error, with the trace or log tail it came with.
	Message string `json:"message"`
}

// Exception kinds.
const (
	KindRestart  = "restart"
	KindTask     = "task"
	KindExecutor = "executor"
	KindJob      = "job"
)
