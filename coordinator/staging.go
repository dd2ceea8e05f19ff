package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/blobstate"
	"github.com/sluicehq/sluice/coordinator/api"
	"github.com/sluicehq/sluice/coordinator/store"
	"github.com/sluicehq/sluice/executor/operator"
)

// Clean-up of sink staging areas. Exactly-once sinks stage their output in
// a staging area per job (operator.Definition.Staging; the files sink's
// <prefix>_staging/<job>/), one directory per attempt, and the leader
// commits a staged object once its checkpoint is complete. Nothing would
// ever remove the others: the objects of a checkpoint that failed or was
// aborted, those an attempt staged after its last complete checkpoint
// before it was killed, the end-of-input parts of a failed attempt, and
// everything of a job cancelled or failed. The leader deletes them:
//
//   - at a restart, once the restored checkpoint is committed and before
//     the next attempt is deployed: the objects of the attempts that have
//     ended (directories a1..a<attempt>). Only those: an object of a later
//     attempt (a new leader that deployed it while this one still cleans)
//     is never touched. Bounded by stagingRestartTimeout; what is left is
//     deleted at the next restart or at the job's end.
//   - when the job has ended: everything left, after the terminal state is
//     applied. Every commit of the job is done by then: commits run on the
//     job master's goroutine (complete, commitFinal, prepareRestore), which
//     has stopped. It runs in the background and tries again with backoff;
//     a new leader sweeps the jobs that ended within stagingSweepWindow,
//     and a job is retired from the store (retire.go) only once a pass
//     has succeeded, so leftovers of a failed clean-up never outlive it.
//
// Objects that a commit still needs are never deleted. One that a complete
// checkpoint references was not committed (its commit failed): it is
// committed now instead, unless the checkpoint is newer than the one a
// restart restored (it was skipped as corrupt, and its records are read
// again) — then it is kept. One that a savepoint of the job references is
// kept: a job resumed from the savepoint commits it.
//
// Zombies: an executor of an ended attempt that the leader counts as
// exited but that still runs (on an agent cut off from the group, say)
// may stage an object after the clean-up. It is never committed (the
// leader refuses acknowledgements and reports of replaced attempts), and
// the clean-up at the next restart or at the job's end deletes it; one
// staged after the job's clean-up stays.

const (
	// stagingRestartTimeout bounds the clean-up that delays a restart.
	stagingRestartTimeout = 30 * time.Second
	// stagingEndAttempts bounds the tries of the clean-up after a job ended.
	stagingEndAttempts = 10
	// stagingRetryMax bounds the pause between tries.
	stagingRetryMax = 30 * time.Second
	// stagingSweepWindow: a new leader cleans up after the jobs that ended
	// this recently (a predecessor may have stopped while it cleaned).
	stagingSweepWindow = time.Hour
	// stagingDeleters bounds the deletes in flight.
	stagingDeleters = 8
)

// stagingArea is a sink's staging area with its bucket resolved.
type stagingArea struct {
	url string
	operator.StagingArea
}

// stagingSweep is one pass over a job's staging areas.
type stagingSweep struct {
	// upTo limits the deletes to objects of attempts up to it (a restart:
	// the attempts that ended); 0 deletes every object (the job ended).
	upTo int
	// commitUpTo: uncommitted objects of complete checkpoints with ids up
	// to it are committed, those of newer ones kept.
	commitUpTo int64
}

// sweepResult counts what a pass did.
type sweepResult struct {
	deleted, committed, kept int
}

// stagedRef is a staged object that a complete checkpoint or savepoint
// references.
type stagedRef struct {
	c      api.Commitable
	commit bool // commit it; false: keep it
}

// stagingAreas returns the distinct staging areas of the job's sinks.
func (c *Coordinator) stagingAreas(j *store.Job) ([]stagingArea, error) {
	cfgs, err := j.Spec.DecodedConfigs(c.cfg.Registry)
	if err != nil {
		return nil, fmt.Errorf("staging areas of job %s: %w", j.ID, err)
	}
	seen := map[stagingArea]bool{}
	var out []stagingArea
	for _, v := range j.Spec.Vertices {
		def, ok := c.cfg.Registry.Resolve(v.Operator, len(j.Spec.Inputs(v.ID)) == 0)
		if !ok || def.Staging == nil {
			continue
		}
		a := stagingArea{StagingArea: def.Staging(cfgs[v.ID], j.ID)}
		if !ownArea(a.Prefix, j.ID) {
			return nil, fmt.Errorf("staging area %q of vertex %s is not one of job %s (it must end with '/' and have the job id as a path element)", a.Prefix, v.ID, j.ID)
		}
		a.url = a.Bucket
		if a.url == "" {
			a.url = j.Bucket
		}
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out, nil
}

// ownArea checks that a staging area prefix belongs to one job, so that a
// sink's mistake cannot have other objects deleted.
func ownArea(prefix, job string) bool {
	if !strings.HasSuffix(prefix, "/") {
		return false
	}
	for _, el := range strings.Split(prefix, "/") {
		if el == job {
			return true
		}
	}
	return false
}

// stagedRefs returns the staged objects that the job's complete
// checkpoints (and, once it has finished, its end-of-input commits)
// reference, by key. Staged keys carry a random nonce, so the key alone
// names an object.
func stagedRefs(j *store.Job, commitUpTo int64) map[string]stagedRef {
	refs := map[string]stagedRef{}
	if j.FromSavepoint != nil {
		for _, c := range j.FromSavepoint.Commitables {
			refs[c.Staged] = stagedRef{c: c}
		}
	}
	for _, cc := range j.Completed {
		for _, c := range cc.Commitables {
			refs[c.Staged] = stagedRef{c: c, commit: cc.ID <= commitUpTo}
		}
	}
	if j.State == api.JobFinished {
		for _, t := range j.SortedTasks() {
			for _, c := range t.FinalCommits {
				refs[c.Staged] = stagedRef{c: c, commit: true}
			}
		}
	}
	return refs
}

// savepointRefs returns the staged objects that the job's savepoints
// reference (savepoints/<job>-<n>/, job ids have no '-'). A savepoint
// without _metadata, or whose _metadata is corrupt, cannot be resumed from
// and references nothing.
func (c *Coordinator) savepointRefs(ctx context.Context, j *store.Job) (map[string]bool, error) {
	st, err := c.storage(ctx, j.Bucket)
	if err != nil {
		return nil, err
	}
	dirs, err := st.b.List(ctx, "savepoints/"+j.ID+"-", "/")
	if err != nil {
		return nil, fmt.Errorf("list the savepoints of job %s: %w", j.ID, err)
	}
	refs := map[string]bool{}
	for _, o := range dirs {
		if !o.IsDir {
			continue
		}
		d, err := blobstate.DirAt(st.b, o.Key)
		if err != nil {
			continue // not a savepoint directory
		}
		md, err := d.ReadMetadata(ctx)
		if errors.Is(err, blobstate.ErrIncomplete) || errors.Is(err, blobstate.ErrCorrupt) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var cc store.CompletedCheckpoint
		if err := json.Unmarshal(md.State, &cc); err != nil {
			continue
		}
		for _, cm := range cc.Commitables {
			refs[cm.Staged] = true
		}
	}
	return refs, nil
}

// sweepStaging makes one pass over the job's staging areas: it commits or
// keeps what complete checkpoints and savepoints reference and deletes the
// rest (within sw.upTo). The error joins every failure; the pass goes on
// past them.
func (c *Coordinator) sweepStaging(ctx context.Context, j *store.Job, sw stagingSweep) (sweepResult, error) {
	var res sweepResult
	areas, err := c.stagingAreas(j)
	if err != nil || len(areas) == 0 {
		return res, err
	}
	jst, err := c.storage(ctx, j.Bucket)
	if err != nil {
		return res, err
	}
	refs := stagedRefs(j, sw.commitUpTo)
	var (
		errs   []error
		spRefs map[string]bool // read on the first object to delete
	)
	for _, a := range areas {
		st, err := c.storage(ctx, a.url)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		objs, err := st.b.List(ctx, a.Prefix, "")
		if err != nil {
			errs = append(errs, fmt.Errorf("list staging area %s: %w", a.Prefix, err))
			continue
		}
		var doomed []string
		for _, o := range objs {
			if o.IsDir {
				continue
			}
			if n, ok := a.Attempt(o.Key); sw.upTo > 0 && (!ok || n > sw.upTo) {
				continue // an attempt that may still run, or not a sink's layout
			}
			if ref, ok := refs[o.Key]; ok {
				if !ref.commit {
					res.kept++
					continue
				}
				if err := jst.commit(ctx, ref.c); err != nil {
					errs = append(errs, err)
					res.kept++
					continue
				}
				res.committed++
				continue
			}
			if spRefs == nil {
				if spRefs, err = c.savepointRefs(ctx, j); err != nil {
					// nothing is deleted without knowing what savepoints need
					errs = append(errs, err)
					return res, errors.Join(errs...)
				}
			}
			if spRefs[o.Key] {
				res.kept++
				continue
			}
			doomed = append(doomed, o.Key)
		}
		n, err := deleteAll(ctx, st.b, doomed)
		res.deleted += n
		if err != nil {
			errs = append(errs, fmt.Errorf("staging area %s: %w", a.Prefix, err))
		}
		if sw.upTo == 0 { // nothing of the job writes any more
			st.b.RemoveEmptyDirs(a.Prefix)
			st.b.PruneEmptyDirs(strings.TrimSuffix(a.Prefix, "/"))
		} else {
			for n := 1; n <= sw.upTo; n++ {
				st.b.RemoveEmptyDirs(a.AttemptDir(n))
			}
		}
	}
	return res, errors.Join(errs...)
}

// deleteAll deletes keys, a few at a time, and returns how many it deleted.
func deleteAll(ctx context.Context, b *blobstate.Bucket, keys []string) (int, error) {
	var (
		mu      sync.Mutex
		errs    []error
		deleted int
		wg      sync.WaitGroup
	)
	work := make(chan string)
	for range min(stagingDeleters, len(keys)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range work {
				err := b.Delete(ctx, k)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					deleted++
				}
				mu.Unlock()
			}
		}()
	}
	for _, k := range keys {
		work <- k
	}
	close(work)
	wg.Wait()
	return deleted, errors.Join(errs...)
}

// cleanStagingBeforeRestart deletes the staged objects of the attempts that
// ended, once restore's output is committed, before the next attempt is
// deployed. Failures are logged: the next restart or the job's end tries
// again.
func (m *jobMaster) cleanStagingBeforeRestart(ctx context.Context, j *store.Job, restore *api.RestoreSource) {
	sw := stagingSweep{upTo: j.Attempt}
	if restore != nil {
		sw.commitUpTo = restore.Checkpoint
	}
	ctx, cancel := context.WithTimeout(ctx, stagingRestartTimeout)
	defer cancel()
	res, err := m.c.sweepStaging(ctx, j, sw)
	ev := m.log.Info()
	if err != nil {
		ev = m.log.Warn().Err(err)
	}
	if err != nil || res != (sweepResult{}) {
		ev.Int("attempt", j.Attempt).Int("deleted", res.deleted).Int("committed", res.committed).Int("kept", res.kept).
			Msg("staging clean-up before restart")
	}
}

// cleanStagingAfterEnd deletes what the job's sinks left staged, in the
// background, trying again with backoff. The job master calls it once the
// terminal state is applied; Close waits for the try under way.
func (c *Coordinator) cleanStagingAfterEnd(id string) {
	j, ok := c.cfg.Store.Job(id)
	if !ok || !j.State.Terminal() {
		return
	}
	c.wg.Add(1) // from a job master, which Close waits for before c.wg
	go func() {
		defer c.wg.Done()
		c.cleanEnded(c.ctx, j, true)
	}()
}

// cleanEnded cleans up after an ended job until a pass succeeds, ctx ends
// or stagingEndAttempts passes failed. A detached pass is not cut short
// when ctx ends.
func (c *Coordinator) cleanEnded(ctx context.Context, j *store.Job, detached bool) {
	log := c.log.With().Str("job", j.ID).Logger()
	pause := 500 * time.Millisecond
	for try := 1; ; try++ {
		pctx := ctx
		if detached {
			pctx = context.WithoutCancel(ctx)
		}
		actx, cancel := context.WithTimeout(pctx, 3*time.Minute)
		res, err := c.sweepStaging(actx, j, stagingSweep{commitUpTo: math.MaxInt64})
		cancel()
		if err == nil {
			if res != (sweepResult{}) {
				log.Info().Int("deleted", res.deleted).Int("committed", res.committed).Int("kept", res.kept).Msg("staging cleaned up")
			}
			c.markCleaned(j.ID)
			return
		}
		if !detached && ctx.Err() != nil {
			return // this node stopped leading: the next leader sweeps
		}
		if try == stagingEndAttempts {
			log.Warn().Err(err).Int("tries", try).Msg("staging clean-up: giving up until the job is retired")
			return
		}
		log.Warn().Err(err).Dur("retryIn", pause).Msg("staging clean-up; will try again")
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(2*pause, stagingRetryMax)
	}
}

// startStagingSweep cleans up, in the background, after the jobs that
// ended within stagingSweepWindow, for the term this node has just started
// leading: its predecessor may have stopped before it was done.
func (c *Coordinator) startStagingSweep(t *term) {
	var ended []*store.Job
	for _, j := range c.cfg.Store.Jobs() {
		if j.State.Terminal() && time.Since(j.EndedAt) < stagingSweepWindow && !c.isCleaned(j.ID) {
			ended = append(ended, j)
		}
	}
	if len(ended) == 0 {
		return
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		for _, j := range ended {
			if t.ctx.Err() != nil {
				return
			}
			c.cleanEnded(t.ctx, j, false)
		}
	}()
}
