package coordinator

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/sluicehq/sluice/archive"
	"github.com/sluicehq/sluice/coordinator/api"
	"github.com/sluicehq/sluice/coordinator/store"
)

// The job archive (package archive): when a job ends, the leader writes
// the JSON its API serves for the job to archive/<id>.json in the
// cluster's default bucket (Config.Bucket), where history servers read it.
// Writes are create-if-absent, so an old and a new leader that both
// archive a job leave one archive. A coordinator that starts leading
// archives the ended jobs that have no archive yet (its predecessor
// stopped in between) and repairs missing index entries. Once a job's
// archive is written, the job may be retired from the store (retire.go);
// reads of a retired job are answered from its archive.

// archiveRetryMax bounds the pause between attempts to archive a job.
const archiveRetryMax = 30 * time.Second

// archiveJob archives a job that has just ended, in the background, trying
// again with backoff until it is written or the coordinator closes. The job
// master calls it once the terminal state is applied.
func (c *Coordinator) archiveJob(id string) {
	c.crashPoint(crashJobEnded)
	c.wg.Add(1) // from a job master, which Close waits for before c.wg
	go func() {
		defer c.wg.Done()
		for pause := 500 * time.Millisecond; ; pause = min(2*pause, archiveRetryMax) {
			err := c.archiveAttempt(id)
			if err == nil {
				return
			}
			c.log.Warn().Err(err).Str("job", id).Dur("retryIn", pause).Msg("archive job; will try again")
			select {
			case <-c.ctx.Done():
				return
			case <-time.After(pause):
			}
		}
	}()
}

// archiveAttempt makes one attempt. Close does not cut it short (it waits
// for it), so that `sluice run` leaves the archive of its job behind.
func (c *Coordinator) archiveAttempt(id string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), 3*time.Minute)
	defer cancel()
	j, ok := c.cfg.Store.Job(id)
	if !ok {
		return nil
	}
	return c.writeArchive(ctx, j)
}

// writeArchive writes the archive of an ended job, unless it exists.
func (c *Coordinator) writeArchive(ctx context.Context, j *store.Job) error {
	st, err := c.storage(ctx, c.cfg.Bucket)
	if err != nil {
		return fmt.Errorf("archive job %s: %w", j.ID, err)
	}
	a, err := archive.New(c.jobStatus(j), checkpointsOf(j, c.master(j.ID)), exceptionsOf(j), time.Now())
	if err != nil {
		return err
	}
	wrote, err := archive.Write(ctx, st.b, a)
	if err != nil {
		return err
	}
	c.log.Info().Str("job", j.ID).Str("state", string(j.State)).Bool("written", wrote).Msg("job archived")
	c.markArchived(j.ID)
	c.kickRetire()
	return nil
}

// startArchiveSweep sweeps the archives in the background for the term
// that this node has just started leading, then retires ended jobs as
// they become due until the term ends.
func (c *Coordinator) startArchiveSweep(t *term) {
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		c.sweepArchives(t.ctx)
		c.retireLoop(t.ctx)
	}()
}

// sweepArchives archives the ended jobs that have no archive and indexes
// the archives that lack index entries, trying again with backoff until it
// has done so or ctx ends.
func (c *Coordinator) sweepArchives(ctx context.Context) {
	for pause := time.Second; ; pause = min(2*pause, archiveRetryMax) {
		err := c.sweepOnce(ctx)
		if err == nil || ctx.Err() != nil {
			return
		}
		c.log.Warn().Err(err).Dur("retryIn", pause).Msg("archive sweep; will try again")
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
	}
}

func (c *Coordinator) sweepOnce(ctx context.Context) error {
	st, err := c.storage(ctx, c.cfg.Bucket)
	if err != nil {
		return fmt.Errorf("archive sweep: %w", err)
	}
	idx := archive.NewIndex(st.b)
	archived, err := idx.Archived(ctx)
	if err != nil {
		return err
	}
	written := 0
	for _, j := range c.cfg.Store.Jobs() {
		if !j.State.Terminal() || archived[j.ID] {
			continue
		}
		if err := c.writeArchive(ctx, j); err != nil {
			return err
		}
		archived[j.ID] = true
		written++
	}
	repaired, err := idx.Repair(ctx, archived)
	if err != nil {
		return err
	}
	// every archive listed is now indexed too: its job may be retired
	for _, e := range c.cfg.Store.Ended() {
		if archived[e.ID] {
			c.markArchived(e.ID)
		}
	}
	c.log.Info().Int("archived", len(archived)).Int("written", written).Int("reindexed", len(repaired)).Msg("archive sweep done")
	if err := c.retireDue(ctx); err != nil && ctx.Err() == nil {
		c.log.Warn().Err(err).Msg("retire ended jobs after the archive sweep; will try again")
	}
	return nil
}

// handleExceptions serves GET /v1/jobs/{id}/exceptions; a retired job's
// come from its archive.
func (c *Coordinator) handleExceptions(w http.ResponseWriter, r *http.Request) {
	j, ok := c.cfg.Store.Job(r.PathValue("id"))
	if !ok {
		c.serveArchived(w, r, archive.ExceptionsPath)
		return
	}
	writeJSON(w, http.StatusOK, exceptionsOf(j))
}

// checkpointsOf is what GET /v1/jobs/{id}/checkpoints serves (see
// handleCheckpoints).
func checkpointsOf(j *store.Job, m *jobMaster) *api.Checkpoints {
	out := &api.Checkpoints{History: j.History}
	for _, h := range j.History {
		switch h.Status {
		case "COMPLETED":
			out.Completed++
		case "FAILED":
			out.Failed++
		}
	}
	if m != nil {
		m.decoratePending(out.History)
	}
	return out
}

// exceptionsOf collects a job's failures: the causes of its restarts, the
// failed subtasks and abnormal executor exits of its last attempt, and its
// error; the root cause of a failed job is its first subtask failure, or
// its error when no subtask failed.
func exceptionsOf(j *store.Job) *archive.Exceptions {
	ex := &archive.Exceptions{History: []archive.Exception{}}
	for _, r := range j.Restarts {
		ex.History = append(ex.History, archive.Exception{At: r.At, Attempt: r.Attempt, Kind: archive.KindRestart, Message: r.Cause})
	}
	var failed []*store.Task
	for _, t := range j.SortedTasks() {
		if t.State == api.TaskFailed {
			failed = append(failed, t)
		}
	}
	sort.SliceStable(failed, func(a, b int) bool { return failed[a].FailSeq < failed[b].FailSeq })
	for _, t := range failed {
		ex.History = append(ex.History, archive.Exception{Attempt: j.Attempt, Kind: archive.KindTask, Task: taskName(j, t), Executor: t.Executor, Message: t.Error})
	}
	for _, e := range sortedExecutors(j) {
		if e.Exited && e.ExitInfo != "" && e.ExitInfo != "exited normally" {
			ex.History = append(ex.History, archive.Exception{Attempt: e.Attempt, Kind: archive.KindExecutor, Executor: e.ID, Message: e.ExitInfo})
		}
	}
	if j.Error != "" {
		ex.History = append(ex.History, archive.Exception{At: j.EndedAt, Attempt: j.Attempt, Kind: archive.KindJob, Message: j.Error})
	}
	if j.State == api.JobFailed || j.State == api.JobFailing {
		for i := range ex.History {
			if k := ex.History[i].Kind; (k == archive.KindTask && len(failed) > 0) || (k == archive.KindJob && len(failed) == 0) {
				root := ex.History[i]
				ex.RootCause = &root
				break
			}
		}
	}
	return ex
}
