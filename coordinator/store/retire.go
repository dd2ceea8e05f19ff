package store

import (
	"fmt"
	"sort"
	"time"
)

// Retiring ended jobs. Like Flink's JobManager, which keeps a finished job
// for jobstore.expiration-time and then leaves it to the history server,
// the leader retires a job that has ended and whose archive is in the
// bucket (see coordinator/archive.go): the job leaves the table, so that
// neither the table nor the raft snapshot grows with every job ever run.
// The job's idempotency key (Job.IdempotencyKey) goes with it.

// RetireCmd removes an ended job from the table. A job that has not ended
// is refused with ErrInvalidState, an unknown one with ErrNotFound.
type RetireCmd struct {
	Job string `json:"job"`
}

func (f *fsm) applyRetire(c *RetireCmd) interface{} {
	j, ok := f.jobs[c.Job]
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, c.Job)
	}
	if !j.State.Terminal() {
		return fmt.Errorf("%w: job %s is %s; only ended jobs (FINISHED, CANCELED, FAILED) can be retired", ErrInvalidState, j.ID, j.State)
	}
	delete(f.jobs, c.Job)
	return nil
}

// EndedJob is a job that has ended, as Ended lists it.
type EndedJob struct {
	ID      string
	EndedAt time.Time
}

// Ended returns the jobs that have ended (and are not retired), the
// earliest end first; it copies no job.
func (s *Store) Ended() []EndedJob { return s.fsm.ended() }

func (f *fsm) ended() []EndedJob {
	f.mu.RLock()
	var out []EndedJob
	for _, j := range f.jobs {
		if j.State.Terminal() {
			out = append(out, EndedJob{ID: j.ID, EndedAt: j.EndedAt})
		}
	}
	f.mu.RUnlock()
	sort.Slice(out, func(a, b int) bool {
		if !out[a].EndedAt.Equal(out[b].EndedAt) {
			return out[a].EndedAt.Before(out[b].EndedAt)
		}
		return out[a].ID < out[b].ID
	})
	return out
}
