package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sluicehq/sluice/coordinator/api"
	"github.com/sluicehq/sluice/executor/operator"
)

func applyCmd(t *testing.T, f *fsm, c Command) interface{} {
	t.Helper()
	data, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return f.Apply(&raft.Log{Data: data})
}

func testJob() *Job {
	return &Job{
		ID: "j1", State: api.JobCreated,
		Executors: map[int]*Executor{},
		Tasks:     map[string]*Task{"0.0": {Pipeline: 0, Index: 0, State: api.TaskCreated}, "0.1": {Pipeline: 0, Index: 1, State: api.TaskCreated}},
		Splits:    map[string]*SplitQueue{"src": {Pending: []PendingSplit{{Split: operator.Split{ID: "a"}}, {Split: operator.Split{ID: "b"}}, {Split: operator.Split{ID: "c"}}}}},
	}
}

func TestSplitsAreHandedOutOnce(t *testing.T) {
	f := newFSM()
	if r := applyCmd(t, f, Command{Submit: &SubmitCmd{Job: testJob()}}); r != nil {
		t.Fatal(r)
	}
	var got []string
	for i := 0; i < 5; i++ {
		r := applyCmd(t, f, Command{Split: &SplitCmd{Job: "j1", Vertex: "src", Subtask: i % 2}}).(*SplitResult)
		if r.Done {
			continue
		}
		got = append(got, r.Split.ID)
	}
	if len(got) != 3 || got[0] != "a" || got[1] != "b" || got[2] != "c" {
		t.Fatalf("splits handed out: %v", got)
	}
	j, _ := f.job("j1")
	if a := j.Splits["src"].Assigned; len(a[0]) != 2 || len(a[1]) != 1 {
		t.Fatalf("assignments: %v", a)
	}
}

func TestJobStateTransitions(t *testing.T) {
	f := newFSM()
	applyCmd(t, f, Command{Submit: &SubmitCmd{Job: testJob()}})
	if err, _ := applyCmd(t, f, Command{Submit: &SubmitCmd{Job: testJob()}}).(error); !errors.Is(err, ErrJobExists) {
		t.Fatalf("duplicate submit: %v", err)
	}
	at := time.Unix(100, 0).UTC()
	for _, step := range []struct {
		to api.JobState
		ok bool
	}{
		{api.JobFinished, false}, // CREATED cannot finish
		{api.JobScheduled, true},
		{api.JobRunning, true},
		{api.JobCanceling, true},
		{api.JobRunning, false}, // no way back
		{api.JobCanceled, true},
		{api.JobFailed, false}, // terminal stays terminal
	} {
		r := applyCmd(t, f, Command{JobState: &JobStateCmd{ID: "j1", State: step.to, At: at}})
		err, _ := r.(error)
		if (err == nil) != step.ok {
			t.Fatalf("-> %s: %v, want ok=%v", step.to, err, step.ok)
		}
	}
	j, _ := f.job("j1")
	if j.State != api.JobCanceled || !j.EndedAt.Equal(at) || !j.StartedAt.Equal(at) {
		t.Fatalf("job after transitions: %s started %v ended %v", j.State, j.StartedAt, j.EndedAt)
	}
}

func TestFirstTerminalTaskStateWins(t *testing.T) {
	f := newFSM()
	applyCmd(t, f, Command{Submit: &SubmitCmd{Job: testJob()}})
	applyCmd(t, f, Command{Task: &TaskCmd{Job: "j1", Pipeline: 0, Index: 1, State: api.TaskFailed, Error: "boom"}})
	applyCmd(t, f, Command{Task: &TaskCmd{Job: "j1", Pipeline: 0, Index: 1, State: api.TaskCanceled}})
	j, _ := f.job("j1")
	if tk := j.Tasks["0.1"]; tk.State != api.TaskFailed || tk.Error != "boom" {
		t.Fatalf("task: %+v", tk)
	}
}

type memSink struct {
	bytes.Buffer
}

func (m *memSink) ID() string    { return "mem" }
func (m *memSink) Cancel() error { return nil }
func (m *memSink) Close() error  { return nil }

func TestSnapshotRestore(t *testing.T) {
	f := newFSM()
	applyCmd(t, f, Command{Submit: &SubmitCmd{Job: testJob()}})
	applyCmd(t, f, Command{Split: &SplitCmd{Job: "j1", Vertex: "src", Subtask: 0}})
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// a change after the snapshot is not in it
	applyCmd(t, f, Command{Split: &SplitCmd{Job: "j1", Vertex: "src", Subtask: 0}})
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	g := newFSM()
	if err := g.Restore(io.NopCloser(&sink)); err != nil {
		t.Fatal(err)
	}
	j, ok := g.job("j1")
	if !ok || len(j.Splits["src"].Pending) != 2 {
		t.Fatalf("restored job: %+v", j)
	}
}

// TestLaunchHandleSurvivesSnapshots records an executor's launch handle
// and checks it is in the job after Apply and after a snapshot is
// restored, that a handle for an unknown executor is refused, and that a
// snapshot written before handles existed still restores.
func TestLaunchHandleSurvivesSnapshots(t *testing.T) {
	f := newFSM()
	applyCmd(t, f, Command{Submit: &SubmitCmd{Job: testJob()}})
	applyCmd(t, f, Command{Deploy: &DeployCmd{ID: "j1", Attempt: 1, Executors: []*Executor{
		{ID: "j1-s0-a1", Slot: 0, Attempt: 1}, {ID: "j1-s1-a1", Slot: 1, Attempt: 1},
	}}})
	if r := applyCmd(t, f, Command{Launched: &LaunchedCmd{Job: "j1", ExecutorID: "j1-s1-a1", Handle: "caj-executor-7"}}); r != nil {
		t.Fatalf("launched: %v", r)
	}
	if err, _ := applyCmd(t, f, Command{Launched: &LaunchedCmd{Job: "j1", ExecutorID: "j1-s9-a1", Handle: "x"}}).(error); err == nil {
		t.Fatal("a handle for an executor the job does not have was recorded")
	}
	if err, _ := applyCmd(t, f, Command{Launched: &LaunchedCmd{Job: "nope", ExecutorID: "nope-s0-a1", Handle: "x"}}).(error); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a handle for an unknown job: %v", err)
	}
	check := func(f *fsm, what string) {
		t.Helper()
		j, ok := f.job("j1")
		if !ok {
			t.Fatalf("%s: no job", what)
		}
		if h := j.Executors[1].Handle; h != "caj-executor-7" {
			t.Fatalf("%s: handle of slot 1 is %q", what, h)
		}
		if h := j.Executors[0].Handle; h != "" {
			t.Fatalf("%s: handle of slot 0 is %q", what, h)
		}
	}
	check(f, "after apply")

	sink := persisted(t, f)
	if !bytes.Contains(sink.Bytes(), []byte(`"handle":"caj-executor-7"`)) {
		t.Fatalf("snapshot lacks the handle: %s", sink.String())
	}
	g := restored(t, sink.Bytes())
	check(g, "after restore")

	// a snapshot of an earlier version: a bare job array, no handles
	old := `[{"id":"j1","state":"SCHEDULED","attempt":1,"executors":{"0":{"id":"j1-s0-a1","slot":0,"attempt":1}},"tasks":{},"splits":{}}]`
	h := newFSM()
	if err := h.Restore(io.NopCloser(strings.NewReader(old))); err != nil {
		t.Fatalf("restore an old snapshot: %v", err)
	}
	j, ok := h.job("j1")
	if !ok || j.Executors[0].ID != "j1-s0-a1" || j.Executors[0].Handle != "" {
		t.Fatalf("job of an old snapshot: %+v", j)
	}
	// and the log goes on from there
	if r := applyCmd(t, h, Command{Launched: &LaunchedCmd{Job: "j1", ExecutorID: "j1-s0-a1", Handle: "caj-executor-1"}}); r != nil {
		t.Fatalf("launched after an old snapshot: %v", r)
	}
}

// persisted snapshots f and persists the snapshot into memory.
func persisted(t *testing.T, f *fsm) *memSink {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	return &sink
}

// restored is a new FSM restored from a persisted snapshot.
func restored(t *testing.T, data []byte) *fsm {
	t.Helper()
	g := newFSM()
	if err := g.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	return g
}
