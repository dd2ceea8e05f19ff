package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/coordinator/api"
)

// TestRetireRemovesOnlyEndedJobs: a running job is refused, an ended one
// leaves the table (and the snapshot), an unknown one is not found.
func TestRetireRemovesOnlyEndedJobs(t *testing.T) {
	f := newFSM()
	at := time.Unix(100, 0).UTC()
	for _, id := range []string{"live", "done"} {
		j := testJob()
		j.ID = id
		applyCmd(t, f, Command{Submit: &SubmitCmd{Job: j}})
	}
	for _, s := range []api.JobState{api.JobScheduled, api.JobRunning} {
		applyCmd(t, f, Command{JobState: &JobStateCmd{ID: "live", State: s, At: at}})
	}
	applyCmd(t, f, Command{JobState: &JobStateCmd{ID: "done", State: api.JobCanceled, At: at}})

	err, _ := applyCmd(t, f, Command{Retire: &RetireCmd{Job: "live"}}).(error)
	if !errors.Is(err, ErrInvalidState) {
		t.Fatalf("retire a running job: %v, want ErrInvalidState", err)
	}
	if _, ok := f.job("live"); !ok {
		t.Fatal("a refused retire removed the running job")
	}
	if r := applyCmd(t, f, Command{Retire: &RetireCmd{Job: "done"}}); r != nil {
		t.Fatalf("retire an ended job: %v", r)
	}
	if _, ok := f.job("done"); ok {
		t.Fatal("the retired job is still in the table")
	}
	if err, _ := applyCmd(t, f, Command{Retire: &RetireCmd{Job: "done"}}).(error); !errors.Is(err, ErrNotFound) {
		t.Fatalf("retire it again: %v, want ErrNotFound", err)
	}
	if got := f.ended(); len(got) != 0 {
		t.Fatalf("ended jobs after the retire: %+v", got)
	}

	g := restored(t, persisted(t, f).Bytes())
	if _, ok := g.job("done"); ok {
		t.Fatal("the retired job came back from the snapshot")
	}
	if j, ok := g.job("live"); !ok || j.State != api.JobRunning {
		t.Fatalf("the running job after the snapshot: %+v", j)
	}
}

// TestSubmitWithIdempotencyKey: the same key and request name the job that
// is there; the same key with another request is refused; a job without
// a key is never matched.
func TestSubmitWithIdempotencyKey(t *testing.T) {
	f := newFSM()
	keyed := func(hash string) *Job {
		j := testJob()
		j.IdempotencyKey, j.RequestHash = "k1", hash
		return j
	}
	if r := applyCmd(t, f, Command{Submit: &SubmitCmd{Job: keyed("h1")}}); r != nil {
		t.Fatalf("first submission: %v", r)
	}
	// the first submission's job moves on; a repeat must not reset it
	applyCmd(t, f, Command{JobState: &JobStateCmd{ID: "j1", State: api.JobScheduled}})
	r, ok := applyCmd(t, f, Command{Submit: &SubmitCmd{Job: keyed("h1")}}).(*SubmitResult)
	if !ok || !r.Existing || r.ID != "j1" {
		t.Fatalf("repeated submission: %#v", r)
	}
	if j, _ := f.job("j1"); j.State != api.JobScheduled {
		t.Fatalf("a repeated submission changed the job: %s", j.State)
	}
	if err, _ := applyCmd(t, f, Command{Submit: &SubmitCmd{Job: keyed("h2")}}).(error); !errors.Is(err, ErrKeyReused) {
		t.Fatalf("the key with another request: %v, want ErrKeyReused", err)
	}
	if err, _ := applyCmd(t, f, Command{Submit: &SubmitCmd{Job: testJob()}}).(error); !errors.Is(err, ErrJobExists) {
		t.Fatalf("the id without the key: %v, want ErrJobExists", err)
	}
	// the key leaves with the job
	applyCmd(t, f, Command{JobState: &JobStateCmd{ID: "j1", State: api.JobCanceled}})
	applyCmd(t, f, Command{Retire: &RetireCmd{Job: "j1"}})
	if r := applyCmd(t, f, Command{Submit: &SubmitCmd{Job: keyed("h2")}}); r != nil {
		t.Fatalf("the key after its job was retired: %v", r)
	}
}

// TestSnapshotDoesNotGrowWithRetiredJobs runs 200 jobs to their end and
// retires them through a real raft node: the snapshot is as small as
// before the first job, while 200 ended jobs kept would make it large.
func TestSnapshotDoesNotGrowWithRetiredJobs(t *testing.T) {
	s, err := Open(Config{Dir: t.TempDir(), Bootstrap: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	fsmSize := func() int { return persisted(t, s.fsm).Len() }
	raftSize := func() int64 {
		t.Helper()
		fut := s.raft.Snapshot()
		if err := fut.Error(); err != nil {
			t.Fatal(err)
		}
		meta, rc, err := fut.Open()
		if err != nil {
			t.Fatal(err)
		}
		rc.Close()
		return meta.Size
	}
	apply := func(c Command) {
		t.Helper()
		if _, err := s.Apply(c); err != nil {
			t.Fatal(err)
		}
	}
	empty, emptyRaft := fsmSize(), raftSize()

	const n = 200
	at := time.Unix(1000, 0).UTC()
	for i := 0; i < n; i++ {
		j := testJob()
		j.ID = fmt.Sprintf("job-%03d", i)
		j.IdempotencyKey, j.RequestHash = "key-"+j.ID, "hash"
		apply(Command{Submit: &SubmitCmd{Job: j}})
		apply(Command{JobState: &JobStateCmd{ID: j.ID, State: api.JobCanceled, At: at}})
	}
	kept := fsmSize()
	if kept < empty+n*100 {
		t.Fatalf("snapshot with %d ended jobs: %d bytes, empty %d: the test's jobs are too small to tell", n, kept, empty)
	}
	for _, e := range s.Ended() {
		apply(Command{Retire: &RetireCmd{Job: e.ID}})
	}
	if got := len(s.Jobs()); got != 0 {
		t.Fatalf("%d jobs left after retiring all", got)
	}
	retired, retiredRaft := fsmSize(), raftSize()
	t.Logf("FSM snapshot: empty %d bytes, %d ended jobs %d bytes, all retired %d bytes; raft snapshot %d -> %d bytes", empty, n, kept, retired, emptyRaft, retiredRaft)
	if retired > empty+64 || retiredRaft > emptyRaft+64 {
		t.Fatalf("snapshot after retiring %d jobs: FSM %d bytes (empty %d), raft %d bytes (empty %d)", n, retired, empty, retiredRaft, emptyRaft)
	}
}
