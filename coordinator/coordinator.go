// Package coordinator is Sluice's JobManager. It accepts jobs over HTTP,
// validates them, turns them into execution plans, hands input splits to
// source subtasks, asks a Launcher for one executor process per slot, deploys
// subtasks to the executors once they have registered, follows task states
// and executor exits, and ends every job as FINISHED, CANCELED or FAILED.
//
// All job state lives in the replicated store (coordinator/store); what the
// leader keeps in memory (heartbeat times, live metrics, long-poll waiters)
// can be rebuilt from executors' next calls. See DESIGN.md in this folder.
package coordinator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"gocloud.dev/blob"

	"github.com/sluicehq/sluice/coordinator/launch"
	"github.com/sluicehq/sluice/coordinator/store"
	"github.com/sluicehq/sluice/executor/operator"
)

// Launcher starts and kills executor processes, one per slot. The launcher
// reports exits through Coordinator.ExecutorExited.
type Launcher interface {
	Launch(ctx context.Context, r launch.Request) (pid int, err error)
	Kill(executorID string) error
}

// BucketOpener opens a bucket URL.
type BucketOpener func(ctx context.Context, url string) (*blob.Bucket, error)

// Config configures a Coordinator. Store, Registry, Launcher, OpenBucket and
// Bucket are required.
type Config struct {
	Store      *store.Store
	Registry   *operator.Registry
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
	Logger       zerolog.Logger
}

func (c *Config) validate() error {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("Store is required"))
	}
	if c.Registry == nil {
		errs = append(errs, errors.New("Registry is required"))
	}
	if c.Launcher == nil {
		errs = append(errs, errors.New("Launcher is required"))
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

	mu      sync.Mutex
	url     string
	masters map[string]*jobMaster
	buckets map[string]*bucketStorage
}

// New returns a coordinator; call Run to start driving jobs.
func New(cfg Config) (*Coordinator, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Coordinator{
		cfg:     cfg,
		log:     cfg.Logger.With().Str("component", "coordinator").Logger(),
		ctx:     ctx,
		cancel:  cancel,
		url:     cfg.URL,
		masters: map[string]*jobMaster{},
	}, nil
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

// Run waits for leadership, then resumes every job that has not ended and
// drives new ones, until ctx ends.
func (c *Coordinator) Run(ctx context.Context) error {
	if err := c.cfg.Store.WaitLeader(ctx); err != nil {
		return err
	}
	c.log.Info().Msg("leading")
	for _, j := range c.cfg.Store.Jobs() {
		if !j.State.Terminal() {
			c.startMaster(j.ID)
		}
	}
	<-ctx.Done()
	return nil
}

// Close stops every job master (jobs keep their replicated state).
func (c *Coordinator) Close() error {
	c.cancel()
	c.wg.Wait()
	return nil
}

// Handler returns the HTTP API.
func (c *Coordinator) Handler() http.Handler { return c.routes() }

func (c *Coordinator) startMaster(id string) *jobMaster {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m, ok := c.masters[id]; ok {
		return m
	}
	m := newJobMaster(c, id)
	c.masters[id] = m
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		m.run(c.ctx)
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
	}
}
