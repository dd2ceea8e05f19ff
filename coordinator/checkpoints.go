package coordinator

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sluicehq/sluice/blobstate"
	"github.com/sluicehq/sluice/coordinator/api"
	"github.com/sluicehq/sluice/coordinator/jobspec"
	"github.com/sluicehq/sluice/coordinator/store"
)

// The checkpoint coordinator of one job, run by its jobMaster on the
// leader: trigger, collect acknowledgements, complete (write _metadata,
// record through Raft, commit staged output, apply retention). A checkpoint
// in flight lives only in the leader's memory: a new leader aborts it by
// forgetting it, and the next one completes.

// pendingCheckpoint is a triggered checkpoint waiting for acknowledgements.
type pendingCheckpoint struct {
	id          int64
	attempt     int
	savepoint   bool
	dir         string
	triggeredAt time.Time
	expected    int
	acks        map[string]api.CheckpointAck
	completing  bool
	// waiters get the result of a savepoint
	waiters []chan savepointResult
}

type savepointResult struct {
	resp api.SavepointResponse
	err  error
}

func checkpointDir(job string, id int64) string {
	return fmt.Sprintf("checkpoints/%s/chk-%d/", job, id)
}

// checkpointConfig returns the job's checkpointing settings with defaults.
func checkpointConfig(s *jobspec.Spec) jobspec.Checkpointing {
	c := s.Checkpointing
	if c.Timeout == 0 {
		c.Timeout = jobspec.Duration(time.Minute)
	}
	if c.Retained == 0 {
		c.Retained = 3
	}
	return c
}

// maybeTrigger starts a periodic checkpoint when one is due.
func (m *jobMaster) maybeTrigger(j *store.Job) error {
	cc := checkpointConfig(j.Spec)
	m.mu.Lock()
	p := m.pending
	last, lastEnd := m.lastTrigger, m.lastEnd
	m.mu.Unlock()
	if p != nil {
		if time.Since(p.triggeredAt) > cc.Timeout.D() {
			return m.failCheckpoint(j, p, fmt.Sprintf("timed out after %s", cc.Timeout.D()))
		}
		return nil
	}
	if cc.Interval == 0 || !j.AllTasks(api.TaskRunning) {
		return nil
	}
	if time.Since(last) < cc.Interval.D() || time.Since(lastEnd) < cc.MinPause.D() {
		return nil
	}
	_, err := m.trigger(j, false, false)
	return err
}

// trigger starts checkpoint j.NextCheckpoint (a savepoint if asked).
func (m *jobMaster) trigger(j *store.Job, savepoint, cancelAfter bool) (*pendingCheckpoint, error) {
	id := j.NextCheckpoint
	dir := checkpointDir(j.ID, id)
	if savepoint {
		dir = fmt.Sprintf("savepoints/%s-%d/", j.ID, id)
	}
	now := time.Now().UTC()
	_, err := m.c.cfg.Store.Apply(store.Command{Trigger: &store.TriggerCmd{
		Job: j.ID, ID: id, Savepoint: savepoint, Dir: dir, At: now, CancelAfter: cancelAfter, Subtasks: len(j.Tasks),
	}})
	if err != nil {
		return nil, fmt.Errorf("trigger checkpoint %d: %w", id, err)
	}
	p := &pendingCheckpoint{
		id: id, attempt: j.Attempt, savepoint: savepoint, dir: dir, triggeredAt: now,
		expected: len(j.Tasks), acks: map[string]api.CheckpointAck{},
	}
	m.mu.Lock()
	m.pending = p
	m.lastTrigger = time.Now()
	m.mu.Unlock()
	target := ""
	if savepoint {
		target = dir
	}
	m.command(api.Command{Checkpoint: id, Target: target})
	m.log.Debug().Int64("checkpoint", id).Bool("savepoint", savepoint).Msg("checkpoint triggered")
	return p, nil
}

// ack records a subtask's acknowledgement; the last one completes the
// checkpoint on the jobMaster's goroutine.
func (m *jobMaster) ack(a api.CheckpointAck) {
	m.mu.Lock()
	p := m.pending
	if p == nil || p.id != a.Checkpoint || p.attempt != a.Attempt {
		m.mu.Unlock()
		return // a checkpoint that was aborted, or a replaced attempt
	}
	p.acks[fmt.Sprintf("%d.%d", a.Pipeline, a.Index)] = a
	m.mu.Unlock()
	m.wake()
}

// progressCheckpoint completes or fails the pending checkpoint once every
// subtask has answered.
func (m *jobMaster) progressCheckpoint(ctx context.Context, j *store.Job) error {
	m.mu.Lock()
	p := m.pending
	ready := p != nil && !p.completing && len(p.acks) >= p.expected
	if ready {
		p.completing = true
	}
	m.mu.Unlock()
	if !ready {
		return nil
	}
	for _, a := range p.acks {
		if a.Error != "" {
			return m.failCheckpoint(j, p, fmt.Sprintf("subtask %d.%d: %s", a.Pipeline, a.Index, a.Error))
		}
	}
	if err := m.complete(ctx, j, p); err != nil {
		return m.failCheckpoint(j, p, err.Error())
	}
	return nil
}

// complete writes _metadata, records the checkpoint through Raft, commits
// its staged output and deletes checkpoints beyond the retained count.
func (m *jobMaster) complete(ctx context.Context, j *store.Job, p *pendingCheckpoint) error {
	cc := &store.CompletedCheckpoint{
		ID: p.id, Dir: p.dir, Savepoint: p.savepoint, CompletedAt: time.Now().UTC(),
		Keyed: map[string][]api.KeyedPiece{}, Sources: map[string][]store.PendingSplit{},
	}
	status := api.CheckpointStatus{
		ID: p.id, Status: "COMPLETED", Savepoint: p.savepoint, Path: p.dir,
		TriggeredAt: p.triggeredAt, Subtasks: p.expected, Acks: len(p.acks),
	}
	positions := map[string]map[int]*api.SourcePosition{}
	keys := make([]string, 0, len(p.acks))
	for k := range p.acks {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	watermark, maxEvent := int64(0), int64(0)
	first := true
	for _, k := range keys {
		a := p.acks[k]
		for v, kp := range a.Keyed {
			cc.Keyed[v] = append(cc.Keyed[v], kp)
		}
		if a.Source != nil {
			if positions[a.SourceVertex] == nil {
				positions[a.SourceVertex] = map[int]*api.SourcePosition{}
			}
			positions[a.SourceVertex][a.Index] = a.Source
			if a.MaxEventTime > maxEvent {
				maxEvent = a.MaxEventTime
			}
		}
		cc.Commitables = append(cc.Commitables, a.Commitables...)
		if first || a.Watermark < watermark {
			watermark = a.Watermark
		}
		first = false
		status.Bytes += a.Bytes
		status.AckedSubtasks = append(status.AckedSubtasks, api.SubtaskAck{
			Pipeline: a.Pipeline, Index: a.Index, Bytes: a.Bytes, SyncMillis: a.SyncMillis, AsyncMillis: a.AsyncMillis,
		})
	}
	cc.Watermark, cc.MaxEventTime = watermark, maxEvent
	for v, q := range j.Splits {
		rem, err := remainingSplits(q, positions[v])
		if err != nil {
			return fmt.Errorf("source %s: %w", v, err)
		}
		cc.Sources[v] = rem
	}
	cc.Parallelism = map[string]int{}
	for _, v := range j.Spec.Vertices {
		cc.Parallelism[v.ID] = v.Parallelism
	}
	cc.MaxParallelism = j.Plan.MaxParallelism
	cc.SpecHash = specHash(j.Spec)
	st, err := m.c.storage(ctx, j.Bucket)
	if err != nil {
		return err
	}
	if err := st.writeMetadata(ctx, j, cc); err != nil {
		return err
	}
	now := time.Now().UTC()
	status.CompletedAt = &now
	status.DurationMs = now.Sub(p.triggeredAt).Milliseconds()
	_, err = m.c.cfg.Store.Apply(store.Command{CheckpointEnd: &store.CheckpointEndCmd{
		Job: j.ID, Status: status, Completed: cc, Retained: checkpointConfig(j.Spec).Retained,
	}})
	if err != nil {
		return fmt.Errorf("record checkpoint %d: %w", p.id, err)
	}
	m.log.Debug().Int64("checkpoint", p.id).Int64("bytes", status.Bytes).Int64("ms", status.DurationMs).Msg("checkpoint complete")
	m.mu.Lock()
	m.pending = nil
	m.lastEnd = time.Now()
	m.consecutiveFailures = 0
	waiters := p.waiters
	m.mu.Unlock()
	// An intermediate savepoint (the job goes on) commits nothing, as in
	// Flink since 1.15: a restart restores the latest checkpoint, which may
	// be older, and would then commit the same records again under later
	// checkpoints' names. Its output stays staged; the executors carry it
	// into the next checkpoint (AckResponse.LatestCompleted counts
	// checkpoints only), which commits it, and a job resumed from the
	// savepoint commits it on restore (same final names: no duplicates).
	if !p.savepoint || j.CancelAfterSavepoint == p.id {
		if err := m.commit(ctx, st, cc.Commitables); err != nil {
			// the output stays staged; recovery and the next leader commit it again
			m.log.Warn().Err(err).Int64("checkpoint", p.id).Msg("commit staged output")
		}
	}
	if !p.savepoint {
		if nj, ok := m.c.cfg.Store.Job(j.ID); ok {
			var keep []int64
			for _, c := range nj.Completed {
				keep = append(keep, c.ID)
			}
			if err := st.retain(ctx, j.ID, keep); err != nil {
				m.log.Warn().Err(err).Msg("delete old checkpoints")
			}
		}
	}
	for _, w := range waiters {
		w <- savepointResult{resp: api.SavepointResponse{Checkpoint: p.id, Dir: p.dir, URL: savepointURL(j.Bucket, p.dir)}}
	}
	if p.savepoint && j.CancelAfterSavepoint == p.id {
		return m.setState(api.JobCanceling, "")
	}
	return nil
}

// commit makes staged sink output visible; committing twice is harmless.
func (m *jobMaster) commit(ctx context.Context, st *bucketStorage, cs []api.Commitable) error {
	var errs []error
	for _, c := range cs {
		if err := st.commit(ctx, c); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// failCheckpoint records a failed or aborted checkpoint. It restarts the
// job only after MaxConsecutiveFailures failures in a row (never by
// default).
func (m *jobMaster) failCheckpoint(j *store.Job, p *pendingCheckpoint, why string) error {
	m.mu.Lock()
	if m.pending != p {
		m.mu.Unlock()
		return nil
	}
	m.pending = nil
	m.lastEnd = time.Now()
	m.consecutiveFailures++
	fails := m.consecutiveFailures
	waiters := p.waiters
	m.mu.Unlock()
	m.log.Warn().Int64("checkpoint", p.id).Str("cause", why).Msg("checkpoint failed")
	for _, w := range waiters {
		w <- savepointResult{err: fmt.Errorf("savepoint %d failed: %s", p.id, why)}
	}
	_, err := m.c.cfg.Store.Apply(store.Command{CheckpointEnd: &store.CheckpointEndCmd{
		Job: j.ID, Retained: checkpointConfig(j.Spec).Retained,
		Status: api.CheckpointStatus{
			ID: p.id, Status: "FAILED", Savepoint: p.savepoint, Path: p.dir, TriggeredAt: p.triggeredAt,
			Subtasks: p.expected, Acks: len(p.acks), Failure: why, DurationMs: time.Since(p.triggeredAt).Milliseconds(),
		},
	}})
	if max := checkpointConfig(j.Spec).MaxConsecutiveFailures; max > 0 && fails >= max && j.State == api.JobRunning {
		return m.failure(j, fmt.Sprintf("%d checkpoints failed in a row, the last: %s", fails, why))
	}
	return err
}

// abortCheckpoint drops the checkpoint in flight (the job is restarting or
// ending).
func (m *jobMaster) abortCheckpoint(j *store.Job, why string) {
	m.mu.Lock()
	p := m.pending
	m.mu.Unlock()
	if p != nil {
		_ = m.failCheckpoint(j, p, "aborted: "+why)
		m.mu.Lock()
		m.consecutiveFailures = 0 // an abort is not the checkpoint's fault
		m.mu.Unlock()
	}
}

// remainingSplits turns the source subtasks' positions into the splits that
// had not been read at the checkpoint: each subtask's current split (with
// the records it had read), the splits assigned to it after that, and the
// splits nobody had taken yet.
func remainingSplits(q *store.SplitQueue, pos map[int]*api.SourcePosition) ([]store.PendingSplit, error) {
	var out []store.PendingSplit
	subtasks := make([]int, 0, len(q.Assigned))
	for s := range q.Assigned {
		subtasks = append(subtasks, s)
	}
	sort.Ints(subtasks)
	for _, s := range subtasks {
		assigned := q.Assigned[s]
		p := pos[s]
		if p == nil {
			p = &api.SourcePosition{} // acknowledged nothing: nothing was read
		}
		if p.Completed > len(assigned) {
			return nil, fmt.Errorf("subtask %d completed %d splits but got %d", s, p.Completed, len(assigned))
		}
		rest := assigned[p.Completed:]
		if p.Current != "" {
			if len(rest) == 0 || rest[0].Split.ID != p.Current {
				return nil, fmt.Errorf("subtask %d was reading split %s, which is not its next assigned split", s, p.Current)
			}
			cur := rest[0]
			cur.Skip = p.Offset
			out = append(out, cur)
			rest = rest[1:]
		}
		out = append(out, rest...)
	}
	return append(out, q.Pending...), nil
}

// savepointURL is the reference `sluice run --from-savepoint` takes.
func savepointURL(bucket, dir string) string {
	id := strings.TrimSuffix(strings.TrimPrefix(dir, "savepoints/"), "/")
	return blobstate.SavepointRef{Bucket: bucket, ID: id}.String()
}

// requestSavepoint asks the jobMaster's goroutine to trigger a savepoint
// as soon as no checkpoint is in flight and every subtask runs (after a
// restart, subtasks take a moment to start); the channel gets the result.
// A request whose ctx ends before its savepoint starts is dropped.
func (m *jobMaster) requestSavepoint(ctx context.Context, cancelAfter bool) (<-chan savepointResult, error) {
	ch := make(chan savepointResult, 1)
	m.mu.Lock()
	m.savepointRequests = append(m.savepointRequests, savepointRequest{ctx: ctx, cancel: cancelAfter, result: ch})
	m.mu.Unlock()
	m.wake()
	return ch, nil
}

type savepointRequest struct {
	ctx    context.Context
	cancel bool
	result chan savepointResult
}

// errSavepointRefused marks savepoint requests refused because of the
// job's state (HTTP 409), as opposed to savepoints that failed.
var errSavepointRefused = errors.New("savepoint refused")

// startRequestedSavepoint triggers a requested savepoint once the
// checkpoint in flight is done and every subtask runs.
func (m *jobMaster) startRequestedSavepoint(j *store.Job) error {
	m.mu.Lock()
	for len(m.savepointRequests) > 0 && m.savepointRequests[0].ctx.Err() != nil {
		m.savepointRequests = m.savepointRequests[1:] // its caller gave up
	}
	if len(m.savepointRequests) == 0 || m.pending != nil {
		m.mu.Unlock()
		return nil
	}
	req := m.savepointRequests[0]
	if !j.AllTasks(api.TaskRunning) {
		for _, t := range j.Tasks {
			if t.State.Terminal() {
				m.savepointRequests = m.savepointRequests[1:]
				m.mu.Unlock()
				req.result <- savepointResult{err: fmt.Errorf("%w: subtask %s of job %s is %s; savepoints need every subtask running", errSavepointRefused, taskName(j, t), j.ID, t.State)}
				return nil
			}
		}
		m.mu.Unlock()
		return nil // subtasks are starting: ask again on the next step
	}
	m.savepointRequests = m.savepointRequests[1:]
	m.mu.Unlock()
	p, err := m.trigger(j, true, req.cancel)
	if err != nil {
		req.result <- savepointResult{err: err}
		return err
	}
	m.mu.Lock()
	p.waiters = append(p.waiters, req.result)
	m.mu.Unlock()
	return nil
}

// decoratePending fills in the acknowledgements of the checkpoint in
// flight.
func (m *jobMaster) decoratePending(h []api.CheckpointStatus) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pending == nil {
		return
	}
	for i := range h {
		if h[i].ID == m.pending.id {
			h[i].Acks = len(m.pending.acks)
			h[i].DurationMs = time.Since(m.pending.triggeredAt).Milliseconds()
		}
	}
}

// failSavepointRequests answers waiting savepoint requests with an error:
// a refusal for why, or, when why wraps store.ErrNotLeader, that error (the
// client tries again at the new leader).
func (m *jobMaster) failSavepointRequests(why error) {
	m.mu.Lock()
	reqs := m.savepointRequests
	m.savepointRequests = nil
	m.mu.Unlock()
	for _, r := range reqs {
		err := why
		if !errors.Is(why, store.ErrNotLeader) {
			err = fmt.Errorf("%w: %w", errSavepointRefused, why)
		}
		r.result <- savepointResult{err: err}
	}
}

// specHash identifies a spec in checkpoint metadata.
func specHash(s *jobspec.Spec) string {
	b, _ := json.Marshal(s)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}
