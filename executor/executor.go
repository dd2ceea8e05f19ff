// Package executor is the ephemeral per-slot executor process. It opens a
// data port (executor/exchange), registers with the coordinator, waits for
// its deployment, runs its subtasks (executor/task) with one goroutine each,
// reports their states and metrics, and exits when they are done, when the
// job is cancelled, or when the coordinator has been unreachable for longer
// than the heartbeat timeout.
package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"gocloud.dev/blob"

	"github.com/sluicehq/sluice/blobstate"
	"github.com/sluicehq/sluice/coordinator/api"
	"github.com/sluicehq/sluice/executor/exchange"
	"github.com/sluicehq/sluice/executor/operator"
	"github.com/sluicehq/sluice/executor/task"
)

// BucketOpener opens a bucket URL.
type BucketOpener func(ctx context.Context, url string) (*blob.Bucket, error)

// Config configures an executor process.
type Config struct {
	// CoordinatorURL is the coordinator's API, or every node of a
	// coordinator group separated by commas.
	CoordinatorURL string
	Token          string
	// HTTP, when set, is the client for the control plane (TLS settings).
	HTTP       *http.Client
	ExecutorID string
	Job        string
	Slot       int
	Attempt    int
	// DataListen is the data port's listen address; default 127.0.0.1:0.
	DataListen string
	Registry   *operator.Registry
	OpenBucket BucketOpener
	// Stdout receives the print sink's output; default os.Stdout.
	Stdout io.Writer
	// HeartbeatInterval defaults to 1 s; HeartbeatTimeout (how long the
	// coordinator may be unreachable before the executor gives up) to 15 s.
	HeartbeatInterval, HeartbeatTimeout time.Duration
	// BufferSize and Credits tune the data plane (exchange defaults).
	BufferSize, Credits int
	Logger              zerolog.Logger
}

// Run runs the executor until its subtasks end. It returns an error when a
// subtask failed or the executor could not do its work.
func Run(ctx context.Context, cfg Config) error {
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = time.Second
	}
	if cfg.HeartbeatTimeout == 0 {
		cfg.HeartbeatTimeout = 15 * time.Second
	}
	if cfg.Stdout == nil {
		cfg.Stdout = os.Stdout
	}
	if cfg.Registry == nil || cfg.OpenBucket == nil {
		return errors.New("executor: Registry and OpenBucket are required")
	}
	log := cfg.Logger.With().Str("component", "executor").Str("executor", cfg.ExecutorID).Logger()
	// CoordinatorURL may list every node of the group: calls go to any
	// live node, and are retried across a leader change for as long as the
	// executor would wait for a heartbeat answer anyway.
	client := api.NewClient(cfg.CoordinatorURL, cfg.Token)
	client.Retry = cfg.HeartbeatTimeout
	if cfg.HTTP != nil {
		client.HTTP = cfg.HTTP
	}

	ex, err := exchange.New(exchange.Config{
		ListenAddr: cfg.DataListen, Token: cfg.Token,
		BufferSize: cfg.BufferSize, Credits: cfg.Credits, Logger: log,
	})
	if err != nil {
		return fmt.Errorf("open data port: %w", err)
	}
	defer ex.Close()

	if err := client.Register(ctx, api.RegisterRequest{
		ExecutorID: cfg.ExecutorID, Job: cfg.Job, Slot: cfg.Slot, Attempt: cfg.Attempt,
		DataAddr: ex.Addr(), PID: os.Getpid(),
	}); err != nil {
		return err
	}
	log.Debug().Str("data", ex.Addr()).Msg("registered")

	d, err := waitDeployment(ctx, client, cfg)
	if err != nil {
		return err
	}
	if d.Cancel {
		log.Info().Msg("job cancelled before deployment")
		return nil
	}

	buckets := &bucketCache{open: cfg.OpenBucket, defaultURL: d.Bucket}
	defer buckets.close()

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	jobBucket, err := blobstate.OpenBucket(ctx, d.Bucket, blobstate.Options{})
	if err != nil {
		return fmt.Errorf("open the job's bucket: %w", err)
	}
	defer jobBucket.Close()
	pieces := newPieceStore(jobBucket)
	var restorer task.Restorer
	restoredWM := int64(math.MinInt64)
	if d.Restore != nil {
		restorer = &keyedRestorer{src: d.Restore, pieces: pieces, maxPar: d.Plan.MaxParallelism}
		restoredWM = d.Restore.Watermark
	}
	up := newUploader(client, pieces, cfg.ExecutorID, d, log)
	defer up.close()

	tasks := make([]*task.Task, 0, len(d.Subtasks))
	for _, id := range d.Subtasks {
		t, err := task.New(task.Config{
			Job: d.Job, Attempt: d.Attempt, Spec: d.Spec, Plan: d.Plan, ID: id,
			Registry: cfg.Registry, Exchange: ex, Peers: d.Peers,
			Splits:  &splitClient{c: client, job: d.Job, executor: cfg.ExecutorID},
			Buckets: buckets.get, Stdout: cfg.Stdout, Logger: log,
			AtLeastOnce:       d.AtLeastOnce,
			Restore:           restorer,
			RestoredWatermark: restoredWM,
			Snapshots:         up.enqueue,
		})
		if err != nil {
			return fmt.Errorf("prepare subtask %v: %w", id, err)
		}
		tasks = append(tasks, t)
	}

	hb := &heartbeater{client: client, cfg: cfg, ex: ex, tasks: tasks, cancel: cancel, log: log}
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		hb.run(runCtx)
	}()
	cmdDone := make(chan struct{})
	go func() {
		defer close(cmdDone)
		pollCommands(runCtx, client, cfg.ExecutorID, d.Attempt, tasks, cancel, log)
	}()

	var wg sync.WaitGroup
	errs := make([]error, len(tasks))
	for i, t := range tasks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := d.Subtasks[i]
			report := func(state api.TaskState, msg string) {
				rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer rcancel()
				u := api.TaskUpdate{
					ExecutorID: cfg.ExecutorID, Job: d.Job, Attempt: d.Attempt, Pipeline: id.Pipeline, Index: id.Index,
					State: state, Error: msg, Metrics: t.Metrics(),
				}
				if state == api.TaskFinished {
					// output of checkpoints that never completed, then the rest
					u.Commitables = up.uncommitted(id.Pipeline, id.Index)
					for _, c := range t.FinalCommitables() {
						u.Commitables = append(u.Commitables, api.Commitable(c))
					}
				}
				err := client.UpdateTask(rctx, u)
				if err != nil {
					log.Warn().Err(err).Msg("report task state")
				}
			}
			report(api.TaskRunning, "")
			err := t.Run(runCtx)
			switch {
			case err == nil:
				report(api.TaskFinished, "")
			case runCtx.Err() != nil:
				report(api.TaskCanceled, context.Cause(runCtx).Error())
			default:
				errs[i] = fmt.Errorf("subtask %d.%d: %w", id.Pipeline, id.Index, err)
				log.Error().Err(err).Int("pipeline", id.Pipeline).Int("index", id.Index).Msg("subtask failed")
				report(api.TaskFailed, err.Error())
			}
		}()
	}
	wg.Wait()
	up.close() // acknowledge what was snapshotted before the end
	cancel(errors.New("executor done"))
	<-hbDone
	<-cmdDone
	hb.send(ctx, true)
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if hb.lostCoordinator.Load() {
		return errors.New("lost the coordinator: no heartbeat answered within the timeout")
	}
	return nil
}

func waitDeployment(ctx context.Context, client *api.Client, cfg Config) (*api.Deployment, error) {
	failedSince := time.Time{}
	for {
		d, err := client.Deployment(ctx, cfg.ExecutorID, 30*time.Second)
		if err == nil && d != nil {
			return d, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil {
			if failedSince.IsZero() {
				failedSince = time.Now()
			}
			if time.Since(failedSince) > cfg.HeartbeatTimeout {
				return nil, err
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(200 * time.Millisecond): // retry pacing, not synchronisation
			}
			continue
		}
		failedSince = time.Time{}
	}
}

// splitClient asks the coordinator for splits. It counts the splits each
// subtask received, so that a request retried after a leader change (its
// answer lost) is answered with the same split, not the next one.
type splitClient struct {
	c        *api.Client
	job      string
	executor string

	mu   sync.Mutex
	have map[string]int // vertex/subtask -> splits received
}

func (s *splitClient) NextSplit(ctx context.Context, vertex string, subtask int) (task.Assignment, error) {
	key := fmt.Sprintf("%s/%d", vertex, subtask)
	s.mu.Lock()
	have := s.have[key]
	s.mu.Unlock()
	resp, err := s.c.NextSplit(ctx, api.SplitRequest{ExecutorID: s.executor, Job: s.job, Vertex: vertex, Subtask: subtask, Have: &have})
	if err != nil {
		return task.Assignment{}, err
	}
	if resp.Split != nil {
		s.mu.Lock()
		if s.have == nil {
			s.have = map[string]int{}
		}
		s.have[key]++
		s.mu.Unlock()
	}
	return task.Assignment{Split: resp.Split, Skip: resp.Skip, Done: resp.Done, Wait: resp.Wait}, nil
}

// bucketCache opens each bucket once per executor.
type bucketCache struct {
	open       BucketOpener
	defaultURL string
	mu         sync.Mutex
	m          map[string]*blob.Bucket
}

func (b *bucketCache) get(ctx context.Context, url string) (*blob.Bucket, error) {
	if url == "" {
		url = b.defaultURL
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if bk, ok := b.m[url]; ok {
		return bk, nil
	}
	bk, err := b.open(ctx, url)
	if err != nil {
		return nil, err
	}
	if b.m == nil {
		b.m = map[string]*blob.Bucket{}
	}
	b.m[url] = bk
	return bk, nil
}

func (b *bucketCache) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, bk := range b.m {
		_ = bk.Close()
	}
}
