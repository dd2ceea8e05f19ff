package store

import (
	"fmt"
	"sort"
	"time"

	"github.com/sluicehq/sluice/coordinator/api"
	"github.com/sluicehq/sluice/coordinator/jobspec"
	"github.com/sluicehq/sluice/coordinator/plan"
	"github.com/sluicehq/sluice/executor/operator"
)

// Job is the replicated record of one job. Spec and Plan never change after
// submission and are shared between copies; everything else is copied by
// Clone.
type Job struct {
	ID          string        `json:"id"`
	Name        string        `json:"name"`
	Bucket      string        `json:"bucket"`
	Spec        *jobspec.Spec `json:"spec"`
	Plan        *plan.Plan    `json:"plan"`
	State       api.JobState  `json:"state"`
	Error       string        `json:"error,omitempty"`
	SubmittedAt time.Time     `json:"submittedAt"`
	StartedAt   time.Time     `json:"startedAt"`
	EndedAt     time.Time     `json:"endedAt"`
	// Attempt counts deployments of the job's executors (1 for the first).
	Attempt   int                    `json:"attempt"`
	Executors map[int]*Executor      `json:"executors"` // by slot
	Tasks     map[string]*Task       `json:"tasks"`     // by TaskKey
	Splits    map[string]*SplitQueue `json:"splits"`    // by source vertex
	// Metrics are the final per-vertex counters, recorded when the job ends.
	Metrics map[string]api.Metrics `json:"metrics,omitempty"`

	// Failures counts task failures (see Task.FailSeq).
	Failures int64 `json:"failures,omitempty"`
	// NextCheckpoint is the id the next checkpoint gets; ids never repeat.
	NextCheckpoint int64 `json:"nextCheckpoint"`
	// Completed are the restorable complete checkpoints, oldest first.
	Completed []*CompletedCheckpoint `json:"completed,omitempty"`
	// History is the recent checkpoint history for the API.
	History []api.CheckpointStatus `json:"history,omitempty"`
	// Restore is what the current attempt restored from.
	Restore *api.RestoreSource `json:"restore,omitempty"`
	// FromSavepoint is the savepoint the job was submitted to start from.
	FromSavepoint *CompletedCheckpoint `json:"fromSavepoint,omitempty"`
	Restarts      []api.Restart        `json:"restarts,omitempty"`
	Warnings      []string             `json:"warnings,omitempty"`
	LastSavepoint string               `json:"lastSavepoint,omitempty"`
	// CancelAfterSavepoint cancels the job when savepoint n completes.
	CancelAfterSavepoint int64 `json:"cancelAfterSavepoint,omitempty"`
	// IdempotencyKey is the key the client sent with the submission (its
	// Idempotency-Key header); the job's id derives from it, so that a
	// repeated submission finds the job. RequestHash identifies the
	// request (spec and savepoint), so that a key reused for another
	// request is refused. Both leave the store with the job.
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
	RequestHash    string `json:"requestHash,omitempty"`
}

// CompletedCheckpoint is what recovery needs of a complete checkpoint.
type CompletedCheckpoint struct {
	ID          int64     `json:"id"`
	Dir         string    `json:"dir"`
	Savepoint   bool      `json:"savepoint,omitempty"`
	CompletedAt time.Time `json:"completedAt"`
	// Keyed lists the keyed state pieces per vertex.
	Keyed map[string][]api.KeyedPiece `json:"keyed,omitempty"`
	// Sources lists, per source vertex, the splits that remained.
	Sources map[string][]PendingSplit `json:"sources,omitempty"`
	// Commitables is the sink output staged for this checkpoint; it is
	// committed when the checkpoint completes, and again (idempotently)
	// before a recovery from it.
	Commitables []api.Commitable `json:"commitables,omitempty"`
	// Watermark is the smallest subtask watermark; MaxEventTime the largest
	// event time the sources had seen.
	Watermark    int64 `json:"watermark"`
	MaxEventTime int64 `json:"maxEventTime"`
	// Parallelism is each vertex's parallelism at the time, MaxParallelism
	// the number of key groups.
	Parallelism    map[string]int `json:"parallelism,omitempty"`
	MaxParallelism int            `json:"maxParallelism"`
	// SpecHash identifies the job spec the checkpoint was taken of.
	SpecHash string `json:"specHash,omitempty"`
}

// PendingSplit is a split not yet fully read: its first Skip records were.
type PendingSplit struct {
	Split operator.Split `json:"split"`
	Skip  int64          `json:"skip,omitempty"`
}

// Executor is one executor process of a job.
type Executor struct {
	ID       string `json:"id"`
	Slot     int    `json:"slot"`
	Attempt  int    `json:"attempt"`
	DataAddr string `json:"dataAddr,omitempty"`
	PID      int    `json:"pid,omitempty"`
	// Agent is the agent whose host runs the process ("" for the local
	// process launcher), so that any leader can have it killed.
	Agent string `json:"agent,omitempty"`
	// Handle is the launcher's handle of the executor (for Container Apps,
	// the execution's name; "" for local processes and agents), recorded
	// right after the launch, so that a later leader can adopt it.
	Handle string `json:"handle,omitempty"`
	// Exited is set once the launcher saw the process end.
	Exited   bool   `json:"exited,omitempty"`
	ExitInfo string `json:"exitInfo,omitempty"`
}

// Task is one subtask's state.
type Task struct {
	Pipeline int           `json:"pipeline"`
	Index    int           `json:"index"`
	State    api.TaskState `json:"state"`
	Error    string        `json:"error,omitempty"`
	Executor string        `json:"executor,omitempty"`
	// FinalCommits are what the subtask's sinks staged at the end of input.
	FinalCommits []api.Commitable `json:"finalCommits,omitempty"`
	// FailSeq orders failures within the job, so that the first one (the
	// root cause, not the subtasks that failed because of it) is reported.
	FailSeq int64 `json:"failSeq,omitempty"`
}

// SplitQueue holds a source vertex's splits: those not yet handed out, and
// which subtask got which.
type SplitQueue struct {
	Pending  []PendingSplit         `json:"pending"`
	Assigned map[int][]PendingSplit `json:"assigned"` // subtask -> splits, in order
	// Known holds the ids of every split ever enumerated (continuous
	// sources add only new ones).
	Known      map[string]bool `json:"known,omitempty"`
	Continuous bool            `json:"continuous,omitempty"`
	// All is every split ever enumerated, for a restart without checkpoint.
	All []operator.Split `json:"all,omitempty"`
}

// TaskKey names a subtask in Job.Tasks.
func TaskKey(id plan.SubtaskID) string { return fmt.Sprintf("%d.%d", id.Pipeline, id.Index) }

// Clone returns a copy of j that shares only the immutable Spec and Plan.
func (j *Job) Clone() *Job {
	c := *j
	c.Executors = make(map[int]*Executor, len(j.Executors))
	for k, v := range j.Executors {
		e := *v
		c.Executors[k] = &e
	}
	c.Tasks = make(map[string]*Task, len(j.Tasks))
	for k, v := range j.Tasks {
		t := *v
		c.Tasks[k] = &t
	}
	c.Splits = make(map[string]*SplitQueue, len(j.Splits))
	for k, v := range j.Splits {
		q := &SplitQueue{Pending: append([]PendingSplit(nil), v.Pending...), Assigned: map[int][]PendingSplit{}, Continuous: v.Continuous, All: append([]operator.Split(nil), v.All...)}
		for s, ps := range v.Assigned {
			q.Assigned[s] = append([]PendingSplit(nil), ps...)
		}
		if v.Known != nil {
			q.Known = make(map[string]bool, len(v.Known))
			for id := range v.Known {
				q.Known[id] = true
			}
		}
		c.Splits[k] = q
	}
	c.Completed = append([]*CompletedCheckpoint(nil), j.Completed...) // entries are immutable
	c.History = append([]api.CheckpointStatus(nil), j.History...)
	c.Restarts = append([]api.Restart(nil), j.Restarts...)
	c.Warnings = append([]string(nil), j.Warnings...)
	for k, t := range c.Tasks {
		t.FinalCommits = append([]api.Commitable(nil), j.Tasks[k].FinalCommits...)
	}
	if j.Metrics != nil {
		c.Metrics = make(map[string]api.Metrics, len(j.Metrics))
		for k, v := range j.Metrics {
			c.Metrics[k] = v
		}
	}
	return &c
}

// SortedTasks returns the tasks ordered by pipeline and index.
func (j *Job) SortedTasks() []*Task {
	out := make([]*Task, 0, len(j.Tasks))
	for _, t := range j.Tasks {
		out = append(out, t)
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Pipeline != out[b].Pipeline {
			return out[a].Pipeline < out[b].Pipeline
		}
		return out[a].Index < out[b].Index
	})
	return out
}

// AllTasks reports whether every task is in one of the given states.
func (j *Job) AllTasks(states ...api.TaskState) bool {
	for _, t := range j.Tasks {
		ok := false
		for _, s := range states {
			if t.State == s {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// Summary returns the job's row for job lists.
func (j *Job) Summary() api.JobSummary {
	s := api.JobSummary{ID: j.ID, Name: j.Name, State: j.State, SubmittedAt: j.SubmittedAt, Error: j.Error}
	if !j.EndedAt.IsZero() {
		t := j.EndedAt
		s.EndedAt = &t
	}
	return s
}
