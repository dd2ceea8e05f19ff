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
}

// Executor is one executor process of a job.
type Executor struct {
	ID       string `json:"id"`
	Slot     int    `json:"slot"`
	Attempt  int    `json:"attempt"`
	DataAddr string `json:"dataAddr,omitempty"`
	PID      int    `json:"pid,omitempty"`
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
}

// SplitQueue holds a source vertex's splits: those not yet handed out, and
// which subtask got which.
type SplitQueue struct {
	Pending  []operator.Split `json:"pending"`
	Assigned map[int][]string `json:"assigned"` // subtask -> split ids, in order
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
		q := &SplitQueue{Pending: append([]operator.Split(nil), v.Pending...), Assigned: map[int][]string{}}
		for s, ids := range v.Assigned {
			q.Assigned[s] = append([]string(nil), ids...)
		}
		c.Splits[k] = q
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
