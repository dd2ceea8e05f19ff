package coordinator

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/sluicehq/sluice/coordinator/api"
	"github.com/sluicehq/sluice/coordinator/jobspec"
	"github.com/sluicehq/sluice/coordinator/store"
)

// Recovery. A failed subtask or a lost executor restarts the whole job (with
// all-to-all shuffles every subtask depends on every other, so Flink's
// failover region is the job): the restart strategy decides whether and
// when; the executors of the failed attempt are stopped; the latest complete
// checkpoint that verifies is restored (falling back to older ones, with a
// warning, when one is corrupt); new executors start as the next attempt.

// restartDelay applies the job's restart strategy to its history. ok is
// false when no restart is left.
func restartDelay(r jobspec.Restart, restarts []api.Restart, now time.Time) (time.Duration, bool) {
	n := len(restarts)
	switch r.Strategy {
	case jobspec.RestartNone:
		return 0, false
	case jobspec.RestartFixed:
		if n >= or(r.Attempts, 10) {
			return 0, false
		}
		return delayOr(r.Delay, time.Second), true
	case jobspec.RestartFailureRate:
		interval := orDur(r.Interval, time.Minute)
		recent := 0
		for _, rs := range restarts {
			if now.Sub(rs.At) < interval {
				recent++
			}
		}
		if recent >= or(r.MaxFailures, 3) {
			return 0, false
		}
		return delayOr(r.Delay, time.Second), true
	default: // exponential delay
		if n >= or(r.Attempts, 10) {
			return 0, false
		}
		initial := delayOr(r.Delay, 100*time.Millisecond)
		maxDelay := orDur(r.MaxDelay, 10*time.Second)
		mult := r.Multiplier
		if mult == 0 {
			mult = 2
		}
		jitter := r.Jitter
		if jitter == 0 {
			jitter = 0.1
		}
		d := float64(initial) * math.Pow(mult, float64(n))
		d = math.Min(d, float64(maxDelay))
		d += d * jitter * (rand.Float64()*2 - 1)
		return time.Duration(d), true
	}
}

func or(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func delayOr(v *jobspec.Duration, def time.Duration) time.Duration {
	if v == nil {
		return def
	}
	return v.D()
}

func orDur(v jobspec.Duration, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return v.D()
}

// failure handles a failed attempt: restart if the strategy allows, fail
// the job otherwise.
func (m *jobMaster) failure(j *store.Job, cause string) error {
	m.abortCheckpoint(j, "the job failed")
	delay, ok := restartDelay(j.Spec.Restart, j.Restarts, time.Now())
	if !ok {
		msg := cause
		if len(j.Restarts) > 0 {
			var causes []string
			for _, r := range j.Restarts {
				causes = append(causes, fmt.Sprintf("attempt %d: %s", r.Attempt, r.Cause))
			}
			msg = fmt.Sprintf("%s (no restart left after %d restarts; earlier causes: %s)", cause, len(j.Restarts), strings.Join(causes, "; "))
		}
		return m.setState(api.JobFailing, msg)
	}
	from := int64(0)
	if n := len(j.Completed); n > 0 {
		from = j.Completed[n-1].ID
	}
	m.log.Warn().Str("cause", cause).Dur("delay", delay).Int("attempt", j.Attempt).Msg("restarting job")
	_, err := m.c.cfg.Store.Apply(store.Command{Restart: &store.RestartCmd{Job: j.ID, Restart: api.Restart{
		At: time.Now().UTC(), Attempt: j.Attempt, Cause: cause, FromCheckpoint: from,
	}}})
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.restartAt = time.Now().Add(delay)
	m.mu.Unlock()
	m.notify() // executors polling for commands learn to stop
	return nil
}

// stepRestarting stops the failed attempt's executors, waits for the delay,
// restores the newest good checkpoint, deletes the staged sink output that
// will never be committed and deploys the next attempt.
func (m *jobMaster) stepRestarting(ctx context.Context, j *store.Job) error {
	if !allExited(j) {
		for _, e := range j.Executors {
			if !e.Exited {
				if err := m.c.launcher.Kill(e.ID); err != nil {
					m.log.Warn().Err(err).Str("executor", e.ID).Msg("kill executor")
				}
			}
		}
		return nil
	}
	m.mu.Lock()
	at := m.restartAt
	m.mu.Unlock()
	if time.Now().Before(at) {
		return nil
	}
	if _, err := m.c.place(j.Plan.Slots); err != nil {
		return fmt.Errorf("restart attempt %d: %w", j.Attempt+1, err) // wait for slots
	}
	restore, err := m.prepareRestore(ctx, j)
	if err != nil {
		return err
	}
	m.cleanStagingBeforeRestart(ctx, j, restore) // staging.go
	return m.deploy(ctx, j, restore)
}

// prepareRestore picks the newest complete checkpoint (or the savepoint the
// job started from) that verifies, commits its staged output, and rewinds
// the sources to it. With none, the sources start over.
func (m *jobMaster) prepareRestore(ctx context.Context, j *store.Job) (*api.RestoreSource, error) {
	candidates := make([]*store.CompletedCheckpoint, 0, len(j.Completed)+1)
	for i := len(j.Completed) - 1; i >= 0; i-- {
		candidates = append(candidates, j.Completed[i])
	}
	if j.FromSavepoint != nil {
		candidates = append(candidates, j.FromSavepoint)
	}
	st, err := m.c.storage(ctx, j.Bucket)
	if err != nil {
		return nil, err
	}
	for _, cc := range candidates {
		if err := st.verify(ctx, cc.Dir); err != nil {
			msg := fmt.Sprintf("checkpoint %d (%s) cannot be restored, falling back to an older one: %v", cc.ID, cc.Dir, err)
			m.log.Warn().Msg(msg)
			_, _ = m.c.cfg.Store.Apply(store.Command{Warning: &store.WarningCmd{Job: j.ID, Msg: msg}})
			continue
		}
		if err := m.commit(ctx, st, cc.Commitables); err != nil {
			return nil, fmt.Errorf("commit the output of checkpoint %d before restoring it: %w", cc.ID, err)
		}
		for v := range j.Splits {
			if _, err := m.c.cfg.Store.Apply(store.Command{RestoreSplits: &store.RestoreSplitsCmd{Job: j.ID, Vertex: v, Pending: cc.Sources[v]}}); err != nil {
				return nil, err
			}
		}
		return &api.RestoreSource{Dir: cc.Dir, Checkpoint: cc.ID, Keyed: cc.Keyed, Watermark: cc.Watermark}, nil
	}
	for v, q := range j.Splits {
		all := make([]store.PendingSplit, len(q.All))
		for i, s := range q.All {
			all[i] = store.PendingSplit{Split: s}
		}
		if _, err := m.c.cfg.Store.Apply(store.Command{RestoreSplits: &store.RestoreSplitsCmd{Job: j.ID, Vertex: v, Pending: all}}); err != nil {
			return nil, err
		}
	}
	return nil, nil
}
