package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sluicehq/sluice/coordinator/api"
	"github.com/sluicehq/sluice/executor/operator"
)

// Command is one entry of the replicated log. Exactly one field is set.
type Command struct {
	Submit   *SubmitCmd   `json:"submit,omitempty"`
	JobState *JobStateCmd `json:"jobState,omitempty"`
	Register *RegisterCmd `json:"register,omitempty"`
	Task     *TaskCmd     `json:"task,omitempty"`
	Split    *SplitCmd    `json:"split,omitempty"`
	Exit     *ExitCmd     `json:"exit,omitempty"`
	Deploy   *DeployCmd   `json:"deploy,omitempty"`
	Launched *LaunchedCmd `json:"launched,omitempty"`
	Retire   *RetireCmd   `json:"retire,omitempty"`

	Trigger       *TriggerCmd       `json:"trigger,omitempty"`
	CheckpointEnd *CheckpointEndCmd `json:"checkpointEnd,omitempty"`
	RestoreSplits *RestoreSplitsCmd `json:"restoreSplits,omitempty"`
	Discover      *DiscoverCmd      `json:"discover,omitempty"`
	Restart       *RestartCmd       `json:"restart,omitempty"`
	Warning       *WarningCmd       `json:"warning,omitempty"`

	Node      *NodeCmd      `json:"node,omitempty"`
	Agent     *AgentCmd     `json:"agent,omitempty"`
	AgentLost *AgentLostCmd `json:"agentLost,omitempty"`
	Noop      *NoopCmd      `json:"noop,omitempty"`
}

// TriggerCmd starts checkpoint ID (which must be NextCheckpoint).
type TriggerCmd struct {
	Job       string    `json:"job"`
	ID        int64     `json:"id"`
	Savepoint bool      `json:"savepoint,omitempty"`
	Dir       string    `json:"dir"`
	At        time.Time `json:"at"`
	// CancelAfter cancels the job once this savepoint completes.
	CancelAfter bool `json:"cancelAfter,omitempty"`
	Subtasks    int  `json:"subtasks"`
}

// CheckpointEndCmd records how a checkpoint ended. Completed is set when it
// is complete (its _metadata written); Retained bounds Job.Completed.
type CheckpointEndCmd struct {
	Job       string               `json:"job"`
	Status    api.CheckpointStatus `json:"status"`
	Completed *CompletedCheckpoint `json:"completed,omitempty"`
	Retained  int                  `json:"retained"`
}

// RestoreSplitsCmd resets a source vertex's splits to those that remained
// at the checkpoint being restored.
type RestoreSplitsCmd struct {
	Job     string         `json:"job"`
	Vertex  string         `json:"vertex"`
	Pending []PendingSplit `json:"pending"`
}

// DiscoverCmd adds the splits a continuous source found, ignoring known ones.
type DiscoverCmd struct {
	Job    string           `json:"job"`
	Vertex string           `json:"vertex"`
	Splits []operator.Split `json:"splits"`
}

// RestartCmd moves a running job to RESTARTING and records why.
type RestartCmd struct {
	Job     string      `json:"job"`
	Restart api.Restart `json:"restart"`
}

// WarningCmd adds a warning to a job.
type WarningCmd struct {
	Job string `json:"job"`
	Msg string `json:"msg"`
}

// SubmitCmd adds a job. Job.State must be CREATED. A job with an
// IdempotencyKey whose id is already taken by a job with the same key is
// not added again: the Apply response is a *SubmitResult naming it (nil
// when the job was added).
type SubmitCmd struct {
	Job *Job `json:"job"`
}

// SubmitResult is what applying a SubmitCmd returns when the job was
// already there: a repeated submission with the same idempotency key.
type SubmitResult struct {
	ID       string
	Existing bool
}

// JobStateCmd moves a job to a new state.
type JobStateCmd struct {
	ID      string                 `json:"id"`
	State   api.JobState           `json:"state"`
	Error   string                 `json:"error,omitempty"`
	At      time.Time              `json:"at"`
	Metrics map[string]api.Metrics `json:"metrics,omitempty"`
}

// DeployCmd records the executors of a new attempt before they start.
type DeployCmd struct {
	ID        string             `json:"id"`
	Attempt   int                `json:"attempt"`
	Executors []*Executor        `json:"executors"`
	At        time.Time          `json:"at"`
	Restore   *api.RestoreSource `json:"restore,omitempty"`
}

// RegisterCmd records that an executor is up and where its data port is.
type RegisterCmd struct {
	Job        string `json:"job"`
	ExecutorID string `json:"executorId"`
	DataAddr   string `json:"dataAddr"`
	PID        int    `json:"pid"`
}

// LaunchedCmd records the launcher's handle of an executor it started (for
// Container Apps, the execution's name), so that a later leader can adopt
// the executor: stop it and learn when it ends.
type LaunchedCmd struct {
	Job        string `json:"job"`
	ExecutorID string `json:"executorId"`
	Handle     string `json:"handle"`
}

// ExitCmd records that an executor process ended.
type ExitCmd struct {
	Job        string `json:"job"`
	ExecutorID string `json:"executorId"`
	Info       string `json:"info"`
}

// TaskCmd sets a subtask's state.
type TaskCmd struct {
	Job      string        `json:"job"`
	Pipeline int           `json:"pipeline"`
	Index    int           `json:"index"`
	State    api.TaskState `json:"state"`
	Error    string        `json:"error,omitempty"`
	Executor string        `json:"executor,omitempty"`
	// Attempt must be the job's current attempt: reports from replaced
	// executors are ignored.
	Attempt      int              `json:"attempt,omitempty"`
	FinalCommits []api.Commitable `json:"finalCommits,omitempty"`
}

// SplitCmd hands the next pending split of a source vertex to a subtask. The
// response of its Apply is a SplitResult.
type SplitCmd struct {
	Job     string `json:"job"`
	Vertex  string `json:"vertex"`
	Subtask int    `json:"subtask"`
	// Have, when set, is how many splits the subtask already received in
	// this attempt: a retried request (its answer was lost in a leader
	// change) gets the same split again instead of the next one.
	Have *int `json:"have,omitempty"`
}

// SplitResult is what applying a SplitCmd returns.
type SplitResult struct {
	Split *operator.Split
	Skip  int64
	Done  bool
	Wait  bool
}

// Errors that callers branch on.
var (
	ErrNotFound     = errors.New("no such job")
	ErrJobExists    = errors.New("job already exists")
	ErrInvalidState = errors.New("invalid state change")
	// ErrKeyReused is a submission whose idempotency key names a job
	// submitted with a different request.
	ErrKeyReused = errors.New("idempotency key reused for a different request")
)

// fsm is the deterministic job table that raft replicates. Apply runs on
// raft's goroutine; reads take the read lock from any goroutine.
type fsm struct {
	mu     sync.RWMutex
	jobs   map[string]*Job
	nodes  map[string]*Node  // coordinator nodes by raft id
	agents map[string]*Agent // worker agents by id
}

func newFSM() *fsm {
	return &fsm{jobs: map[string]*Job{}, nodes: map[string]*Node{}, agents: map[string]*Agent{}}
}

// Apply implements raft.FSM.
func (f *fsm) Apply(l *raft.Log) interface{} {
	var c Command
	if err := json.Unmarshal(l.Data, &c); err != nil {
		return fmt.Errorf("decode command at index %d: %w", l.Index, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.apply(&c)
}

func (f *fsm) apply(c *Command) interface{} {
	switch {
	case c.Submit != nil:
		j := c.Submit.Job
		if old, ok := f.jobs[j.ID]; ok {
			if j.IdempotencyKey == "" || old.IdempotencyKey != j.IdempotencyKey {
				return fmt.Errorf("%w: %s", ErrJobExists, j.ID)
			}
			if old.RequestHash != j.RequestHash {
				return fmt.Errorf("%w: job %s was submitted with this key and another spec", ErrKeyReused, j.ID)
			}
			return &SubmitResult{ID: old.ID, Existing: true}
		}
		f.jobs[j.ID] = j.Clone()
		return nil
	case c.Retire != nil:
		return f.applyRetire(c.Retire)
	case c.JobState != nil:
		return f.applyJobState(c.JobState)
	case c.Deploy != nil:
		j, ok := f.jobs[c.Deploy.ID]
		if !ok {
			return fmt.Errorf("%w: %s", ErrNotFound, c.Deploy.ID)
		}
		if j.State.Terminal() {
			return fmt.Errorf("%w: job %s is %s", ErrInvalidState, j.ID, j.State)
		}
		j.Attempt = c.Deploy.Attempt
		j.Restore = c.Deploy.Restore
		j.Executors = map[int]*Executor{}
		for _, e := range c.Deploy.Executors {
			ec := *e
			j.Executors[e.Slot] = &ec
		}
		for _, t := range j.Tasks {
			t.State = api.TaskCreated
			t.Error = ""
			t.FinalCommits = nil
			if e, ok := j.Executors[t.Index]; ok {
				t.Executor = e.ID
			}
		}
		if j.State == api.JobCreated || j.State == api.JobRestarting {
			j.State = api.JobScheduled
		}
		return nil
	case c.Register != nil:
		j, e, err := f.executor(c.Register.Job, c.Register.ExecutorID)
		if err != nil {
			return err
		}
		_ = j
		e.DataAddr = c.Register.DataAddr
		e.PID = c.Register.PID
		return nil
	case c.Launched != nil:
		_, e, err := f.executor(c.Launched.Job, c.Launched.ExecutorID)
		if err != nil {
			return err
		}
		e.Handle = c.Launched.Handle
		return nil
	case c.Exit != nil:
		_, e, err := f.executor(c.Exit.Job, c.Exit.ExecutorID)
		if err != nil {
			return err
		}
		e.Exited = true
		e.ExitInfo = c.Exit.Info
		return nil
	case c.Task != nil:
		j, ok := f.jobs[c.Task.Job]
		if !ok {
			return fmt.Errorf("%w: %s", ErrNotFound, c.Task.Job)
		}
		t, ok := j.Tasks[fmt.Sprintf("%d.%d", c.Task.Pipeline, c.Task.Index)]
		if !ok {
			return fmt.Errorf("job %s has no subtask %d.%d", j.ID, c.Task.Pipeline, c.Task.Index)
		}
		if t.State.Terminal() || (c.Task.Attempt != 0 && c.Task.Attempt != j.Attempt) {
			return nil // late report after the end, or from a replaced attempt
		}
		t.State = c.Task.State
		t.Error = c.Task.Error
		t.FinalCommits = c.Task.FinalCommits
		if t.State == api.TaskFailed {
			j.Failures++
			t.FailSeq = j.Failures
		}
		if c.Task.Executor != "" {
			t.Executor = c.Task.Executor
		}
		return nil
	case c.Split != nil:
		q, err := f.splitQueue(c.Split.Job, c.Split.Vertex)
		if err != nil {
			return err
		}
		if h := c.Split.Have; h != nil && *h >= 0 && *h < len(q.Assigned[c.Split.Subtask]) {
			s := q.Assigned[c.Split.Subtask][*h]
			return &SplitResult{Split: &s.Split, Skip: s.Skip}
		}
		if len(q.Pending) == 0 {
			if q.Continuous {
				return &SplitResult{Wait: true}
			}
			return &SplitResult{Done: true}
		}
		s := q.Pending[0]
		q.Pending = q.Pending[1:]
		if q.Assigned == nil {
			q.Assigned = map[int][]PendingSplit{}
		}
		q.Assigned[c.Split.Subtask] = append(q.Assigned[c.Split.Subtask], s)
		return &SplitResult{Split: &s.Split, Skip: s.Skip}
	case c.Trigger != nil:
		return f.applyTrigger(c.Trigger)
	case c.CheckpointEnd != nil:
		return f.applyCheckpointEnd(c.CheckpointEnd)
	case c.RestoreSplits != nil:
		q, err := f.splitQueue(c.RestoreSplits.Job, c.RestoreSplits.Vertex)
		if err != nil {
			return err
		}
		q.Pending = append([]PendingSplit(nil), c.RestoreSplits.Pending...)
		q.Assigned = map[int][]PendingSplit{}
		return nil
	case c.Discover != nil:
		q, err := f.splitQueue(c.Discover.Job, c.Discover.Vertex)
		if err != nil {
			return err
		}
		if q.Known == nil {
			q.Known = map[string]bool{}
		}
		added := 0
		for _, s := range c.Discover.Splits {
			if !q.Known[s.ID] {
				q.Known[s.ID] = true
				q.All = append(q.All, s)
				q.Pending = append(q.Pending, PendingSplit{Split: s})
				added++
			}
		}
		return added
	case c.Restart != nil:
		j, ok := f.jobs[c.Restart.Job]
		if !ok {
			return fmt.Errorf("%w: %s", ErrNotFound, c.Restart.Job)
		}
		if j.State != api.JobRunning && j.State != api.JobScheduled && j.State != api.JobRestarting {
			return fmt.Errorf("%w: job %s is %s, cannot restart", ErrInvalidState, j.ID, j.State)
		}
		j.State = api.JobRestarting
		j.Restarts = append(j.Restarts, c.Restart.Restart)
		return nil
	case c.Node != nil, c.Agent != nil, c.AgentLost != nil, c.Noop != nil:
		return f.applyCluster(c)
	case c.Warning != nil:
		j, ok := f.jobs[c.Warning.Job]
		if !ok {
			return fmt.Errorf("%w: %s", ErrNotFound, c.Warning.Job)
		}
		j.Warnings = append(j.Warnings, c.Warning.Msg)
		if len(j.Warnings) > 50 {
			j.Warnings = j.Warnings[len(j.Warnings)-50:]
		}
		return nil
	}
	return errors.New("empty command")
}

// splitQueue returns a source vertex's split queue.
func (f *fsm) splitQueue(job, vertex string) (*SplitQueue, error) {
	j, ok := f.jobs[job]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, job)
	}
	q, ok := j.Splits[vertex]
	if !ok {
		return nil, fmt.Errorf("job %s has no source vertex %q", job, vertex)
	}
	return q, nil
}

func (f *fsm) executor(job, id string) (*Job, *Executor, error) {
	j, ok := f.jobs[job]
	if !ok {
		return nil, nil, fmt.Errorf("%w: %s", ErrNotFound, job)
	}
	for _, e := range j.Executors {
		if e.ID == id {
			return j, e, nil
		}
	}
	return nil, nil, fmt.Errorf("job %s has no executor %s", job, id)
}

// allowed job state transitions
var transitions = map[api.JobState][]api.JobState{
	api.JobCreated:    {api.JobScheduled, api.JobCanceling, api.JobCanceled, api.JobFailing, api.JobFailed},
	api.JobScheduled:  {api.JobRunning, api.JobCanceling, api.JobCanceled, api.JobFailing, api.JobFailed},
	api.JobRunning:    {api.JobFinished, api.JobCanceling, api.JobCanceled, api.JobFailing, api.JobFailed, api.JobRestarting},
	api.JobRestarting: {api.JobScheduled, api.JobCanceling, api.JobCanceled, api.JobFailing, api.JobFailed},
	api.JobCanceling:  {api.JobCanceled, api.JobFailed},
	api.JobFailing:    {api.JobFailed},
}

func (f *fsm) applyJobState(c *JobStateCmd) interface{} {
	j, ok := f.jobs[c.ID]
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, c.ID)
	}
	if j.State == c.State {
		return nil
	}
	allowed := false
	for _, s := range transitions[j.State] {
		if s == c.State {
			allowed = true
		}
	}
	if !allowed {
		return fmt.Errorf("%w: job %s is %s, cannot become %s", ErrInvalidState, j.ID, j.State, c.State)
	}
	j.State = c.State
	if c.Error != "" && j.Error == "" {
		j.Error = c.Error
	}
	if c.State == api.JobRunning && j.StartedAt.IsZero() {
		j.StartedAt = c.At
	}
	if c.State.Terminal() {
		j.EndedAt = c.At
	}
	if c.Metrics != nil {
		j.Metrics = c.Metrics
	}
	return nil
}

// snapshot is a point-in-time copy of the job table and the cluster
// membership tables.
type snapshot struct {
	jobs   []*Job
	nodes  []*Node
	agents []*Agent
}

// snapshotFile is a snapshot's encoding. Snapshots of old versions are a
// bare JSON array of jobs; Restore reads both.
type snapshotFile struct {
	Jobs   []*Job   `json:"jobs"`
	Nodes  []*Node  `json:"nodes,omitempty"`
	Agents []*Agent `json:"agents,omitempty"`
}

// Snapshot implements raft.FSM.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	s := &snapshot{jobs: make([]*Job, 0, len(f.jobs))}
	for _, j := range f.jobs {
		s.jobs = append(s.jobs, j.Clone())
	}
	sort.Slice(s.jobs, func(a, b int) bool { return s.jobs[a].ID < s.jobs[b].ID })
	s.nodes, s.agents = f.nodeList(), f.agentList()
	return s, nil
}

// Persist implements raft.FSMSnapshot.
func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	if err := json.NewEncoder(sink).Encode(snapshotFile{Jobs: s.jobs, Nodes: s.nodes, Agents: s.agents}); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("persist snapshot: %w", err)
	}
	return sink.Close()
}

// Release implements raft.FSMSnapshot.
func (s *snapshot) Release() {}

// Restore implements raft.FSM.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return fmt.Errorf("read snapshot: %w", err)
	}
	var sf snapshotFile
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '[' {
		err = json.Unmarshal(t, &sf.Jobs)
	} else {
		err = json.Unmarshal(t, &sf)
	}
	if err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	m := make(map[string]*Job, len(sf.Jobs))
	for _, j := range sf.Jobs {
		m[j.ID] = j
	}
	nodes := make(map[string]*Node, len(sf.Nodes))
	for _, n := range sf.Nodes {
		nodes[n.ID] = n
	}
	agents := make(map[string]*Agent, len(sf.Agents))
	for _, a := range sf.Agents {
		agents[a.ID] = a
	}
	f.mu.Lock()
	f.jobs, f.nodes, f.agents = m, nodes, agents
	f.mu.Unlock()
	return nil
}

func (f *fsm) job(id string) (*Job, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	j, ok := f.jobs[id]
	if !ok {
		return nil, false
	}
	return j.Clone(), true
}

func (f *fsm) list() []*Job {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]*Job, 0, len(f.jobs))
	for _, j := range f.jobs {
		out = append(out, j.Clone())
	}
	sort.Slice(out, func(a, b int) bool {
		if !out[a].SubmittedAt.Equal(out[b].SubmittedAt) {
			return out[a].SubmittedAt.After(out[b].SubmittedAt)
		}
		return out[a].ID < out[b].ID
	})
	return out
}

// maxHistory bounds the checkpoint history kept per job.
const maxHistory = 100

func (f *fsm) applyTrigger(c *TriggerCmd) interface{} {
	j, ok := f.jobs[c.Job]
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, c.Job)
	}
	if c.ID != j.NextCheckpoint {
		return fmt.Errorf("%w: checkpoint %d of job %s is not the next one (%d)", ErrInvalidState, c.ID, j.ID, j.NextCheckpoint)
	}
	j.NextCheckpoint++
	j.History = append(j.History, api.CheckpointStatus{
		ID: c.ID, Status: "IN_PROGRESS", Savepoint: c.Savepoint, Path: c.Dir, TriggeredAt: c.At, Subtasks: c.Subtasks,
	})
	if c.CancelAfter {
		j.CancelAfterSavepoint = c.ID
	}
	if len(j.History) > maxHistory {
		j.History = j.History[len(j.History)-maxHistory:]
	}
	return nil
}

func (f *fsm) applyCheckpointEnd(c *CheckpointEndCmd) interface{} {
	j, ok := f.jobs[c.Job]
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, c.Job)
	}
	for i := range j.History {
		if j.History[i].ID == c.Status.ID {
			j.History[i] = c.Status
		}
	}
	if cc := c.Completed; cc != nil {
		if cc.Savepoint {
			j.LastSavepoint = cc.Dir
		} else {
			j.Completed = append(j.Completed, cc)
			if keep := max(c.Retained, 1); len(j.Completed) > keep {
				j.Completed = j.Completed[len(j.Completed)-keep:]
			}
		}
	}
	return nil
}
