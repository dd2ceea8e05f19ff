package coordinator

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/sluicehq/sluice/coordinator/api"
	"github.com/sluicehq/sluice/coordinator/launch"
	"github.com/sluicehq/sluice/coordinator/store"
	"github.com/sluicehq/sluice/executor/operator"
)

// jobMaster drives one job on the leader. It is a reconcile loop: every
// event (an executor registered, a task changed, a process exited, a cancel,
// a tick) wakes it, it reads the job from the store and takes the next step.
// The replicated state is the truth; the fields here are leader-local.
type jobMaster struct {
	c   *Coordinator
	id  string
	log zerolog.Logger

	kick chan struct{}

	mu         sync.Mutex
	changed    chan struct{} // closed and replaced on every change
	heartbeats map[string]time.Time
	metrics    map[string]api.TaskMetrics // by task key
	inflight   map[string][3]int64        // executor -> current, max in-flight bytes, max RSS
	samples    []sample                   // per-vertex totals over time, for rates
	stateSince time.Time                  // when the job entered its current state
	lastState  api.JobState

	// checkpointing (leader memory)
	pending             *pendingCheckpoint
	lastTrigger         time.Time
	lastEnd             time.Time
	consecutiveFailures int
	restartAt           time.Time
	lastDiscover        map[string]time.Time
	commands            []api.Command
	savepointRequests   []savepointRequest
	// epoch names this master's command log: executors that see it change
	// (a new leader) read the new log from its start.
	epoch string
}

type sample struct {
	at     time.Time
	totals map[string]api.Metrics
}

func newJobMaster(c *Coordinator, id string) *jobMaster {
	return &jobMaster{
		c:            c,
		id:           id,
		log:          c.log.With().Str("job", id).Logger(),
		kick:         make(chan struct{}, 1),
		changed:      make(chan struct{}),
		heartbeats:   map[string]time.Time{},
		metrics:      map[string]api.TaskMetrics{},
		inflight:     map[string][3]int64{},
		lastDiscover: map[string]time.Time{},
		epoch:        newEpoch(),
	}
}

// wake asks the loop to look at the job again.
func (m *jobMaster) wake() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// notify wakes long-polling executors.
func (m *jobMaster) notify() {
	m.mu.Lock()
	close(m.changed)
	m.changed = make(chan struct{})
	m.mu.Unlock()
}

func (m *jobMaster) changes() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changed
}

func (m *jobMaster) run(ctx context.Context) {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	m.abortStaleCheckpoints()
	defer m.release()
	lastErr := ""
	for {
		done, err := m.step(ctx)
		if err != nil && err.Error() != lastErr { // a job waiting for slots says so once
			m.log.Warn().Err(err).Msg("job step failed; retrying")
		}
		lastErr = ""
		if err != nil {
			lastErr = err.Error()
		}
		m.notify()
		if done {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-m.kick:
		case <-tick.C:
			m.sample()
		}
	}
}

func (m *jobMaster) apply(cmd store.Command) error {
	_, err := m.c.cfg.Store.Apply(cmd)
	return err
}

func (m *jobMaster) setState(state api.JobState, errMsg string) error {
	cmd := &store.JobStateCmd{ID: m.id, State: state, Error: errMsg, At: time.Now().UTC()}
	if state.Terminal() {
		cmd.Metrics = m.vertexTotals()
	}
	if errMsg != "" {
		m.log.Warn().Str("state", string(state)).Str("cause", errMsg).Msg("job state")
	} else {
		m.log.Info().Str("state", string(state)).Msg("job state")
	}
	if err := m.apply(store.Command{JobState: cmd}); err != nil {
		return err
	}
	if state.Terminal() {
		m.c.archiveJob(m.id)           // archive.go
		m.c.cleanStagingAfterEnd(m.id) // staging.go
	}
	return nil
}

// step takes the next action for the job; it returns true once the job has
// ended and needs no more attention.
func (m *jobMaster) step(ctx context.Context) (bool, error) {
	j, ok := m.c.cfg.Store.Job(m.id)
	if !ok {
		return true, nil
	}
	m.mu.Lock()
	if j.State != m.lastState {
		m.lastState = j.State
		m.stateSince = time.Now()
	}
	since := m.stateSince
	m.mu.Unlock()

	switch j.State {
	case api.JobCreated:
		if _, err := m.c.place(j.Plan.Slots); err != nil {
			return false, fmt.Errorf("schedule: %w", err) // wait for slots
		}
		restore, err := m.prepareRestore(ctx, j)
		if err != nil {
			return false, m.setState(api.JobFailing, fmt.Sprintf("restore: %v", err))
		}
		return false, m.deploy(ctx, j, restore)
	case api.JobScheduled:
		if reason := m.lostExecutor(j); reason != "" {
			return false, m.failure(j, reason)
		}
		if allRegistered(j) {
			return false, m.setState(api.JobRunning, "")
		}
		if time.Since(since) > m.c.cfg.ScheduleTimeout {
			return false, m.failure(j, fmt.Sprintf("executors did not register within %s", m.c.cfg.ScheduleTimeout))
		}
	case api.JobRunning:
		if t := firstFailure(j); t != nil {
			return false, m.failure(j, fmt.Sprintf("subtask %s of %s failed: %s", taskName(j, t), t.Executor, t.Error))
		}
		if reason := m.lostExecutor(j); reason != "" {
			return false, m.failure(j, reason)
		}
		m.checkHeartbeats(j)
		if err := m.progressCheckpoint(ctx, j); err != nil {
			return false, err
		}
		if !j.AllTasks(api.TaskRunning) {
			m.abortCheckpoint(j, "subtasks are finishing")
		}
		if err := m.startRequestedSavepoint(j); err != nil {
			return false, err
		}
		if err := m.maybeTrigger(j); err != nil {
			return false, err
		}
		m.discover(ctx, j)
		if j.AllTasks(api.TaskFinished) && allExited(j) {
			if err := m.commitFinal(ctx, j); err != nil {
				return false, m.setState(api.JobFailing, err.Error())
			}
			return true, m.setState(api.JobFinished, "")
		}
	case api.JobRestarting:
		m.failSavepointRequests(fmt.Errorf("the job is restarting"))
		return false, m.stepRestarting(ctx, j)
	case api.JobCanceling, api.JobFailing:
		m.failSavepointRequests(fmt.Errorf("the job is ending"))
		m.abortCheckpoint(j, "the job is ending")
		if allExited(j) {
			final := api.JobCanceled
			if j.State == api.JobFailing {
				final = api.JobFailed
			}
			return true, m.setState(final, "")
		}
		if time.Since(since) > m.c.cfg.CancelGrace {
			for _, e := range j.Executors {
				if !e.Exited {
					m.log.Warn().Str("executor", e.ID).Msg("executor did not exit in time; killing it")
					if err := m.c.launcher.Kill(e.ID); err != nil {
						m.log.Warn().Err(err).Str("executor", e.ID).Msg("kill executor")
					}
				}
			}
		}
	default:
		return true, nil
	}
	return false, nil
}

// commitFinal commits what the sinks staged at the end of input, once every
// subtask has finished.
func (m *jobMaster) commitFinal(ctx context.Context, j *store.Job) error {
	var cs []api.Commitable
	for _, t := range j.SortedTasks() {
		cs = append(cs, t.FinalCommits...)
	}
	if len(cs) == 0 {
		return nil
	}
	st, err := m.c.storage(ctx, j.Bucket)
	if err != nil {
		return err
	}
	if err := m.commit(ctx, st, cs); err != nil {
		return fmt.Errorf("commit the final output: %w", err)
	}
	for _, c := range cs { // nothing writes to the staging areas any more
		if c.Bucket == "" || c.Bucket == j.Bucket {
			st.b.PruneEmptyDirs(c.Staged)
		}
	}
	return nil
}

// discover looks for new splits of continuous sources when due.
func (m *jobMaster) discover(ctx context.Context, j *store.Job) {
	for i, v := range j.Spec.Vertices {
		q, ok := j.Splits[v.ID]
		if !ok || !q.Continuous {
			continue
		}
		def, _ := m.c.cfg.Registry.Resolve(v.Operator, true)
		cfg, ferrs := def.DecodeConfig(v.Config)
		if len(ferrs) > 0 || def.Discover == nil {
			continue
		}
		every := def.Discover(cfg)
		m.mu.Lock()
		due := time.Since(m.lastDiscover[v.ID]) >= every
		if due {
			m.lastDiscover[v.ID] = time.Now()
		}
		m.mu.Unlock()
		if !due {
			continue
		}
		env := &enumerateEnv{open: m.c.cfg.OpenBucket, defaultURL: j.Bucket, parallelism: v.Parallelism, log: m.log}
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		splits, err := def.Splits(dctx, env, cfg)
		cancel()
		env.close()
		if err != nil {
			m.log.Warn().Err(err).Str("vertex", v.ID).Int("index", i).Msg("discover splits")
			continue
		}
		var fresh []operator.Split
		for _, sp := range splits {
			if !q.Known[sp.ID] {
				fresh = append(fresh, sp)
			}
		}
		if len(fresh) > 0 {
			if err := m.apply(store.Command{Discover: &store.DiscoverCmd{Job: j.ID, Vertex: v.ID, Splits: fresh}}); err != nil {
				m.log.Warn().Err(err).Msg("record discovered splits")
			}
		}
	}
}

// deploy launches one executor per slot for the next attempt.
func (m *jobMaster) deploy(ctx context.Context, j *store.Job, restore *api.RestoreSource) error {
	attempt := j.Attempt + 1
	hosts, err := m.c.place(j.Plan.Slots)
	if err != nil {
		return fmt.Errorf("schedule attempt %d: %w", attempt, err)
	}
	execs := make([]*store.Executor, j.Plan.Slots)
	for s := range execs {
		execs[s] = &store.Executor{ID: executorID(j.ID, s, attempt), Slot: s, Attempt: attempt, Agent: hosts[s]}
	}
	if err := m.apply(store.Command{Deploy: &store.DeployCmd{ID: j.ID, Attempt: attempt, Executors: execs, At: time.Now().UTC(), Restore: restore}}); err != nil {
		return err
	}
	now := time.Now()
	m.mu.Lock()
	m.commands = nil                         // commands are per attempt
	m.metrics = map[string]api.TaskMetrics{} // so are live metrics
	for _, e := range execs {
		m.heartbeats[e.ID] = now
	}
	m.mu.Unlock()
	env := []string{}
	if m.c.cfg.Token != "" {
		env = append(env, "SLUICE_TOKEN="+m.c.cfg.Token)
	}
	for i, e := range execs {
		args := []string{
			"--coordinator", m.c.executorURLs(),
			"--executor-id", e.ID,
			"--job", j.ID,
			"--slot", strconv.Itoa(e.Slot),
			"--attempt", strconv.Itoa(attempt),
		}
		pid, err := m.c.launcher.Launch(ctx, launch.Request{ExecutorID: e.ID, Args: args, Env: env, Host: e.Agent})
		if err != nil {
			for _, ne := range execs[i:] {
				_ = m.apply(store.Command{Exit: &store.ExitCmd{Job: j.ID, ExecutorID: ne.ID, Info: "not started: " + err.Error()}})
			}
			if m.c.cfg.Launcher == nil {
				// an agent that went away: the restart strategy decides
				return fmt.Errorf("launch executor for slot %d: %w", e.Slot, err)
			}
			return m.setState(api.JobFailing, fmt.Sprintf("launch executor for slot %d: %v", e.Slot, err))
		}
		m.log.Debug().Str("executor", e.ID).Int("pid", pid).Msg("executor launched")
		m.recordHandle(e.ID) // adopt.go
	}
	return nil
}

// exitInfo describes how an executor ended.
func exitInfo(e launch.Exit) string {
	info := "exited normally"
	if e.Err != nil {
		info = e.Err.Error()
		if tail := strings.TrimSpace(e.LogTail); tail != "" {
			info += "; last log lines:\n" + tail
		}
	}
	return info
}

// exited records an executor's exit.
func (m *jobMaster) exited(e launch.Exit) {
	info := exitInfo(e)
	if err := m.apply(store.Command{Exit: &store.ExitCmd{Job: m.id, ExecutorID: e.ExecutorID, Info: info}}); err != nil {
		m.log.Warn().Err(err).Str("executor", e.ExecutorID).Msg("record executor exit")
	}
	m.wake()
}

// lostExecutor returns why the job cannot go on if an executor exited while
// it still had unfinished work.
func (m *jobMaster) lostExecutor(j *store.Job) string {
	for _, e := range sortedExecutors(j) {
		if !e.Exited {
			continue
		}
		for _, t := range j.Tasks {
			if t.Executor == e.ID && !t.State.Terminal() {
				return fmt.Sprintf("executor %s (slot %d) exited before its subtasks finished: %s", e.ID, e.Slot, e.ExitInfo)
			}
		}
		if j.State == api.JobScheduled {
			return fmt.Sprintf("executor %s (slot %d) exited before it was deployed: %s", e.ID, e.Slot, e.ExitInfo)
		}
	}
	return ""
}

func (m *jobMaster) checkHeartbeats(j *store.Job) {
	var lost []string
	defer func() {
		// an executor the launcher does not know (launched by an earlier
		// leader, say) and that stays silent is gone: record it as exited
		for _, id := range lost {
			_ = m.apply(store.Command{Exit: &store.ExitCmd{Job: m.id, ExecutorID: id,
				Info: "silent past the heartbeat timeout and unknown to this leader's launcher"}})
		}
	}()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range j.Executors {
		if e.Exited {
			continue
		}
		last, ok := m.heartbeats[e.ID]
		if !ok {
			m.heartbeats[e.ID] = time.Now()
			continue
		}
		if time.Since(last) > m.c.cfg.HeartbeatTimeout {
			m.log.Warn().Str("executor", e.ID).Dur("silent", time.Since(last)).Msg("executor missed its heartbeats; killing it")
			if err := m.c.launcher.Kill(e.ID); err != nil {
				m.log.Warn().Err(err).Str("executor", e.ID).Msg("kill executor")
				lost = append(lost, e.ID)
			}
			m.heartbeats[e.ID] = time.Now() // do not kill again on every tick
		}
	}
}

func (m *jobMaster) heartbeat(h api.Heartbeat) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.heartbeats[h.ExecutorID] = time.Now()
	for _, t := range h.Tasks {
		m.metrics[fmt.Sprintf("%d.%d", t.Pipeline, t.Index)] = t
	}
	m.inflight[h.ExecutorID] = [3]int64{h.InflightBytes, h.MaxInflightBytes, h.MaxRSSBytes}
}

func (m *jobMaster) taskMetrics(t api.TaskMetrics) {
	if t.Vertices == nil {
		return
	}
	m.mu.Lock()
	m.metrics[fmt.Sprintf("%d.%d", t.Pipeline, t.Index)] = t
	m.mu.Unlock()
}

// vertexTotals sums the latest metrics of every subtask per vertex.
func (m *jobMaster) vertexTotals() map[string]api.Metrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.totalsLocked()
}

func (m *jobMaster) totalsLocked() map[string]api.Metrics {
	out := map[string]api.Metrics{}
	for _, t := range m.metrics {
		for v, vm := range t.Vertices {
			cur := out[v]
			cur.Add(vm)
			out[v] = cur
		}
	}
	return out
}

func (m *jobMaster) sample() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.samples = append(m.samples, sample{at: time.Now(), totals: m.totalsLocked()})
	if len(m.samples) > 8 {
		m.samples = m.samples[len(m.samples)-8:]
	}
}

// rates returns per-vertex records in/out per second over the sample window.
func (m *jobMaster) rates() map[string][2]float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string][2]float64{}
	if len(m.samples) < 2 {
		return out
	}
	first, last := m.samples[0], m.samples[len(m.samples)-1]
	if len(m.samples) > 4 {
		first = m.samples[len(m.samples)-4]
	}
	dt := last.at.Sub(first.at).Seconds()
	if dt <= 0 {
		return out
	}
	for v, lm := range last.totals {
		fm := first.totals[v]
		out[v] = [2]float64{float64(lm.RecordsIn-fm.RecordsIn) / dt, float64(lm.RecordsOut-fm.RecordsOut) / dt}
	}
	return out
}

// executorFigures returns an executor's max in-flight bytes and peak RSS.
func (m *jobMaster) executorFigures(executor string) (maxInflight, maxRSS int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.inflight[executor]
	return f[1], f[2]
}

// firstRecord returns when the job's first record was processed.
func (m *jobMaster) firstRecord() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	var first time.Time
	for _, t := range m.metrics {
		if !t.FirstRecordAt.IsZero() && (first.IsZero() || t.FirstRecordAt.Before(first)) {
			first = t.FirstRecordAt
		}
	}
	return first
}

func allRegistered(j *store.Job) bool {
	if len(j.Executors) == 0 {
		return false
	}
	for _, e := range j.Executors {
		if e.DataAddr == "" {
			return false
		}
	}
	return true
}

func allExited(j *store.Job) bool {
	for _, e := range j.Executors {
		if !e.Exited {
			return false
		}
	}
	return true
}

func sortedExecutors(j *store.Job) []*store.Executor {
	out := make([]*store.Executor, 0, len(j.Executors))
	for s := 0; s < len(j.Executors)+64 && len(out) < len(j.Executors); s++ {
		if e, ok := j.Executors[s]; ok {
			out = append(out, e)
		}
	}
	return out
}

func taskName(j *store.Job, t *store.Task) string {
	if t.Pipeline < len(j.Plan.Pipelines) {
		return fmt.Sprintf("%s[%d]", strings.Join(j.Plan.Pipelines[t.Pipeline].Vertices, "->"), t.Index)
	}
	return fmt.Sprintf("%d.%d", t.Pipeline, t.Index)
}

// executorID names an executor process: <job>-s<slot>-a<attempt>. Job ids
// contain no '-'.
func executorID(job string, slot, attempt int) string {
	return fmt.Sprintf("%s-s%d-a%d", job, slot, attempt)
}

func jobOfExecutor(id string) (string, bool) {
	job, _, ok := strings.Cut(id, "-")
	return job, ok
}

// command appends a command for the job's executors and wakes their polls.
func (m *jobMaster) command(c api.Command) {
	m.mu.Lock()
	c.Seq = int64(len(m.commands)) + 1
	m.commands = append(m.commands, c)
	m.mu.Unlock()
	m.notify()
}

// commandsAfter returns the commands after seq.
func (m *jobMaster) commandsAfter(seq int64) []api.Command {
	m.mu.Lock()
	defer m.mu.Unlock()
	if seq < 0 || seq >= int64(len(m.commands)) {
		return nil
	}
	return append([]api.Command(nil), m.commands[seq:]...)
}

// firstFailure returns the subtask that failed first: the others usually
// failed because of it (their channels to it broke).
func firstFailure(j *store.Job) *store.Task {
	var first *store.Task
	for _, t := range j.SortedTasks() {
		if t.State == api.TaskFailed && (first == nil || t.FailSeq < first.FailSeq) {
			first = t
		}
	}
	return first
}
