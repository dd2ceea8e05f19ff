package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sluicehq/sluice/coordinator/api"
)

// TestRaftOverTCPSurvivesRestart runs a single-node group over TCP with
// raft-boltdb on disk, writes through the log, restarts the node from the
// same directory and finds the state again.
func TestRaftOverTCPSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	open := func() *Store {
		s, err := Open(Config{Dir: dir, Bootstrap: true})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := s.WaitLeader(ctx); err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	if _, err := s.Apply(Command{Submit: &SubmitCmd{Job: testJob()}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(Command{JobState: &JobStateCmd{ID: "j1", State: api.JobScheduled, At: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(Command{JobState: &JobStateCmd{ID: "nope", State: api.JobScheduled}}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown job: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open()
	defer s.Close()
	j, ok := s.Job("j1")
	if !ok || j.State != api.JobScheduled {
		t.Fatalf("after restart: %+v", j)
	}
}
