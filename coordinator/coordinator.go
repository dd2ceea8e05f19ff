// Package coordinator is Sluice's JobManager. It accepts jobs over HTTP,
// validates them, turns them into execution plans, hands input splits to
// source subtasks, asks a Launcher for one executor process per slot, deploys
// subtasks to the executors once they have registered, follows task states
// and executor exits, and ends every job as FINISHED, CANCELED or FAILED.
//
// All job state lives in the replicated store (coordinator/store); what the
// leader keeps in memory (heartbeat times, live metrics, long-poll waiters,
// the checkpoint in flight) can be rebuilt from executors' next calls. Every
// node of a coordinator group runs a Coordinator: the one that leads the
// Raft group drives the jobs (leadership.go), the others forward to it
// (forward.go), and without a Launcher executors run on agents
// (agents.go). See DESIGN.md in this folder.
package coordinator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"gocloud.dev/blob"

	"github.com/sluicehq/sluice/coordinator/launch"
	"github.com/sluicehq/sluice/coordinator/store"
	"github.com/sluicehq/sluice/executor/operator"
)

// Launcher starts and kills executor processes, one per slot. The launcher
// reports exits through Coordinator.ExecutorExited. Without one, the
// coordinator runs executors on the agents that registered with the group
// (see agents.go).
type Launcher interface {
	Launch(ctx context.Context, r launch.Request) (pid int, err error)
	Kill(executorID string) error
}

// BucketOpener opens a bucket URL.
type BucketOpener func(ctx context.Context, url string) (*blob.Bucket, error)

// Config configures a Coordinator. Store, Registry, OpenBucket and Bucket
// are required.
type Config struct {
	Store    *store.Store
	Registry *operator.Registry
	// Launcher runs executors; nil runs them on agents (sluice agent).
	Launcher   Launcher
	OpenBucket BucketOpener
	// Bucket is the default bucket URL of jobs.
	Bucket string
	// URL is the address executors use to reach this coordinator's API.
	// It may be set after New, with SetURL, once the listener is open.
	URL string
	// Token, when set, is required from every client and executor.
	Token string
	// HeartbeatTimeout is how long an executor may stay silent; default 15 s.
	HeartbeatTimeout time.Duration
	// ScheduleTimeout bounds the time from launch to all executors
	// registered; default 60 s.
	ScheduleTimeout time.Duration
	// CancelGrace is how long executors get to exit after a cancel before
	// they are killed; default 5 s.
	CancelGrace time.Duration
	// MaxBodyBytes limits request bodies; default 4 MiB.
	MaxBodyBytes int64
	// AgentTimeout is how long an agent may stay silent before its
	// executors count as exited; default 10 s.
	AgentTimeout time.Duration
	// RetainEnded is how long an ended job stays in the replicated store
	// (and GET /v1/jobs) once its archive is written; after that it is
	// retired and served from its archive. Default 1 h; negative retires
	// a job as soon as its archive is written.
	RetainEnded time.Duration
	// RetainEndedMax bounds the ended jobs the store keeps: beyond it the
	// earliest ended are retired sooner (once archived). Default 1000;
	// negative keeps none.
	RetainEndedMax int
	// HTTP is the client for calls to agents and to the leader (TLS
	// settings); default a plain client.
	HTTP   *http.Client
	Logger zerolog.Logger
	// CrashAt is a fault-injection point for tests of a real process: at
	// the named moment the process SIGKILLs itself, as a crash would stop
	// it. "job-ended": right after a job's terminal state is committed
	// through Raft, before the leader archives it. Never set in production
	// (sluice coordinator reads it from SLUICE_TEST_CRASH_AT).
	CrashAt string
}

func (c *Config) validate() error {
	var errs []error
	switch c.CrashAt {
	case "", crashJobEnded:
	default:
		errs = append(errs, fmt.Errorf("CrashAt: unknown crash point %q (known: %s)", c.CrashAt, crashJobEnded))
	}
	if c.Store == nil {
		errs = append(errs, errors.New("Store is required"))
	}
	if c.Registry == nil {
		errs = append(errs, errors.New("Registry is required"))
	}
	if c.OpenBucket == nil {
		errs = append(errs, errors.New("OpenBucket is required"))
	}
	if c.Bucket == "" {
		errs = append(errs, errors.New("Bucket is required"))
	}
	if c.HeartbeatTimeout == 0 {
		c.HeartbeatTimeout = 15 * time.Second
	}
	if c.ScheduleTimeout == 0 {
		c.ScheduleTimeout = 60 * time.Second
	}
	if c.CancelGrace == 0 {
		c.CancelGrace = 5 * time.Second
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 4 << 20
	}
	if c.AgentTimeout == 0 {
		c.AgentTimeout = 10 * time.Second
	}
	switch {
	case c.RetainEnded == 0:
		c.RetainEnded = time.Hour
	case c.RetainEnded < 0:
		c.RetainEnded = 0
	}
	switch {
	case c.RetainEndedMax == 0:
		c.RetainEndedMax = 1000
	case c.RetainEndedMax < 0:
		c.RetainEndedMax = 0
	}
	if c.HTTP == nil {
		c.HTTP = &http.Client{Timeout: 75 * time.Second}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("coordinator config: %w", err)
	}
	return nil
}

// Coordinator serves the API and drives jobs while its node leads the
// store's raft group. Its methods are safe for concurrent use.
type Coordinator struct {
	cfg Config
	log zerolog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	launcher Launcher
	agents   *agentTable
	proxy    *leaderProxy

	// retireKick asks the leader's retire loop to look for jobs due
	// (archive.go: after an archive is written).
	retireKick chan struct{}

	mu      sync.Mutex
	url     string
	term    *term // set while this node leads
	masters map[string]*jobMaster
	buckets map[string]*bucketStorage
	// archived holds the ended jobs still in the store whose archive (and
	// index entries) this process has seen written: they may be retired.
	// Archives are never deleted, so it holds across terms.
	archived map[string]bool
	// cleaned holds the ended jobs still in the store whose sink staging
	// this process has seen cleaned up (staging.go): with archived, what
	// retirement waits for, since nothing cleans a retired job's staging.
	cleaned map[string]bool
}

// New returns a coordinator; call Run to start driving jobs.
func New(cfg Config) (*Coordinator, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Coordinator{
		cfg:     cfg,
		log:     cfg.Logger.With().Str("component", "coordinator").Logger(),
		ctx:     ctx,
		cancel:  cancel,
		url:     cfg.URL,
		masters: map[string]*jobMaster{},
		agents:  newAgentTable(),

		retireKick: make(chan struct{}, 1),
		archived:   map[string]bool{},
		cleaned:    map[string]bool{},
	}
	c.launcher = cfg.Launcher
	if c.launcher == nil {
		c.launcher = &agentLauncher{c: c}
	}
	c.proxy = newLeaderProxy(c)
	return c, nil
}

// SetURL sets the address executors use to reach the API.
func (c *Coordinator) SetURL(u string) {
	c.mu.Lock()
	c.url = u
	c.mu.Unlock()
}

func (c *Coordinator) apiURL() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.url
}

// Close stops every job master (jobs keep their replicated state).
func (c *Coordinator) Close() error {
	c.cancel()
	c.mu.Lock()
	t := c.term
	c.mu.Unlock()
	if t != nil {
		t.cancel()
		t.wg.Wait()
	}
	c.wg.Wait()
	return nil
}

// Handler returns the HTTP API.
func (c *Coordinator) Handler() http.Handler { return c.routes() }

// startMaster returns the job's master, starting it if this node leads.
// On a node that does not lead, the master returned is never run.
func (c *Coordinator) startMaster(id string) *jobMaster {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m, ok := c.masters[id]; ok {
		return m
	}
	m := newJobMaster(c, id)
	t := c.term
	if t == nil {
		return m
	}
	c.masters[id] = m
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		m.run(t.ctx)
	}()
	return m
}

func (c *Coordinator) master(id string) *jobMaster {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.masters[id]
}

// ExecutorExited is called by the launcher when an executor process ends.
func (c *Coordinator) ExecutorExited(e launch.Exit) {
	job, ok := jobOfExecutor(e.ExecutorID)
	if !ok {
		return
	}
	if m := c.master(job); m != nil {
		m.exited(e)
		return
	}
	// no master (the job has ended, or this node just became leader):
	// record the exit all the same
	_, _ = c.cfg.Store.Apply(store.Command{Exit: &store.ExitCmd{Job: job, ExecutorID: e.ExecutorID, Info: exitInfo(e)}})
}

// crashJobEnded is the crash point after a job's end is committed.
const crashJobEnded = "job-ended"

// crashPoint kills this process with SIGKILL when Config.CrashAt names
// point (tests of real processes only).
func (c *Coordinator) crashPoint(point string) {
	if c.cfg.CrashAt != point {
		return
	}
	c.log.Warn().Str("point", point).Msg("crash point reached: killing this process")
	if p, err := os.FindProcess(os.Getpid()); err == nil {
		_ = p.Kill()
	}
	select {} // the signal is on its way
}
