package executor

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/sluicehq/sluice/coordinator/api"
	"github.com/sluicehq/sluice/executor/record"
	"github.com/sluicehq/sluice/executor/state"
	"github.com/sluicehq/sluice/executor/task"
)

// pieces reads and writes checkpoint pieces in the job's bucket.
type pieces interface {
	WritePiece(ctx context.Context, dir, name string, data []byte) (api.Piece, error)
	ReadPiece(ctx context.Context, dir string, p api.Piece) ([]byte, error)
}

// pollCommands long-polls the coordinator for checkpoint triggers and
// cancellation until ctx ends.
func pollCommands(ctx context.Context, c *api.Client, executor string, attempt int, tasks []*task.Task, cancel context.CancelCauseFunc, log zerolog.Logger) {
	after, epoch := int64(0), ""
	for ctx.Err() == nil {
		resp, err := c.Commands(ctx, executor, attempt, epoch, after)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Debug().Err(err).Msg("poll commands")
			select {
			case <-ctx.Done():
				return
			case <-time.After(250 * time.Millisecond): // retry pacing
			}
			continue
		}
		if resp.Epoch != epoch {
			// a new leader with a new command log: read it from its start
			if epoch != "" {
				log.Info().Str("epoch", resp.Epoch).Msg("new command log (leader changed)")
			}
			epoch, after = resp.Epoch, 0
		}
		for _, cmd := range resp.Commands {
			if cmd.Cancel {
				log.Info().Msg("cancel requested by the coordinator")
				cancel(errCancelled)
				return
			}
			if cmd.Seq > after {
				after = cmd.Seq
			}
			if cmd.Checkpoint > 0 {
				for _, t := range tasks {
					t.TriggerCheckpoint(task.Barrier{ID: cmd.Checkpoint, Target: cmd.Target})
				}
			}
		}
	}
}

// uploader writes snapshots' keyed state to the bucket and acknowledges
// them, off the subtasks' goroutines and in order.
//
// It also carries sink output across checkpoints that never complete. A
// sink stages its output once per checkpoint, and the staged objects
// travel only in that checkpoint's acknowledgement: if the checkpoint is
// aborted without a restart (the leader changed and forgot it, or it timed
// out), nothing would ever commit them and the records would be lost. So
// every acknowledgement repeats the commitables of the subtask's earlier
// checkpoints that the coordinator has not reported complete (its answer
// says which is the newest complete one); committing is idempotent, so
// repeating what was committed already is harmless.
type uploader struct {
	client   *api.Client
	pieces   pieces
	executor string
	d        *api.Deployment
	log      zerolog.Logger

	queue chan task.Snapshot
	done  chan struct{}
	once  sync.Once

	mu      sync.Mutex
	carried map[string][]carriedCommit // by subtask "pipeline.index"
}

// carriedCommit is sink output staged for checkpoint id, not known to be
// committed.
type carriedCommit struct {
	id int64
	cs []api.Commitable
}

// carry records cs (staged for checkpoint id) as not known to be committed,
// forgets what checkpoint completed covers, and returns what key carries.
func (u *uploader) carry(key string, id int64, cs []api.Commitable, completed int64) []api.Commitable {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.carried == nil {
		u.carried = map[string][]carriedCommit{}
	}
	var keep []carriedCommit
	var out []api.Commitable
	for _, c := range append(u.carried[key], carriedCommit{id: id, cs: cs}) {
		if c.id > completed && len(c.cs) > 0 {
			keep = append(keep, c)
			out = append(out, c.cs...)
		}
	}
	u.carried[key] = keep
	return out
}

// uncommitted returns the carried commitables of a subtask.
func (u *uploader) uncommitted(pipeline, index int) []api.Commitable {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []api.Commitable
	for _, c := range u.carried[fmt.Sprintf("%d.%d", pipeline, index)] {
		out = append(out, c.cs...)
	}
	return out
}

func newUploader(c *api.Client, p pieces, executor string, d *api.Deployment, log zerolog.Logger) *uploader {
	u := &uploader{client: c, pieces: p, executor: executor, d: d, log: log,
		queue: make(chan task.Snapshot, 64), done: make(chan struct{})}
	go u.run()
	return u
}

// enqueue is task.Config.Snapshots.
func (u *uploader) enqueue(s task.Snapshot) { u.queue <- s }

// close waits until every queued snapshot is acknowledged.
func (u *uploader) close() {
	u.once.Do(func() { close(u.queue) })
	<-u.done
}

func (u *uploader) run() {
	defer close(u.done)
	for s := range u.queue {
		u.upload(s)
	}
}

func (u *uploader) upload(s task.Snapshot) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	ack := api.CheckpointAck{
		ExecutorID: u.executor, Job: u.d.Job, Attempt: u.d.Attempt, Checkpoint: s.Barrier.ID,
		Pipeline: s.Pipeline, Index: s.Index, SourceVertex: s.SourceVertex,
		Watermark: s.Watermark, MaxEventTime: s.MaxEventTime, SyncMillis: s.SyncDuration.Milliseconds(),
	}
	if s.Source != nil {
		ack.Source = &api.SourcePosition{Completed: s.Source.Completed, Current: s.Source.Current, Offset: s.Source.Offset}
	}
	var own []api.Commitable
	for _, c := range s.Commitables {
		own = append(own, api.Commitable(c))
	}
	key := fmt.Sprintf("%d.%d", s.Pipeline, s.Index)
	// earlier uncommitted output first, then this checkpoint's
	ack.Commitables = append(u.uncommitted(s.Pipeline, s.Index), own...)
	if s.KeyedVertex != "" {
		dir := s.Barrier.Target
		if dir == "" {
			dir = fmt.Sprintf("checkpoints/%s/chk-%d/", u.d.Job, s.Barrier.ID)
		}
		p, err := u.pieces.WritePiece(ctx, dir, fmt.Sprintf("%s-%d.state", s.KeyedVertex, s.Index), s.Keyed)
		if err != nil {
			ack.Error = fmt.Sprintf("upload keyed state of %s[%d]: %v", s.KeyedVertex, s.Index, err)
		} else {
			kp := api.KeyedPiece{Piece: p}
			for _, e := range s.Extents {
				kp.Extents = append(kp.Extents, api.GroupExtent{Group: e.Group, Offset: e.Offset, Length: e.Length})
			}
			ack.Keyed = map[string]api.KeyedPiece{s.KeyedVertex: kp}
			ack.Bytes = p.Size
		}
	}
	ack.AsyncMillis = time.Since(start).Milliseconds()
	resp, err := u.client.Ack(ctx, ack)
	if err != nil {
		u.log.Warn().Err(err).Int64("checkpoint", s.Barrier.ID).Msg("acknowledge checkpoint")
		u.carry(key, s.Barrier.ID, own, 0)
		return
	}
	u.carry(key, s.Barrier.ID, own, resp.LatestCompleted)
}

// keyedRestorer loads keyed state from the checkpoint being restored: a
// subtask reads the pieces whose key groups it owns at its parallelism,
// which may differ from the parallelism the checkpoint was taken at.
type keyedRestorer struct {
	src    *api.RestoreSource
	pieces pieces
	maxPar int
}

func (r *keyedRestorer) RestoreKeyed(ctx context.Context, vertex string, index, parallelism int, b *state.Backend) error {
	for _, kp := range r.src.Keyed[vertex] {
		var mine []api.GroupExtent
		for _, e := range kp.Extents {
			if record.SubtaskForKeyGroup(e.Group, r.maxPar, parallelism) == index {
				mine = append(mine, e)
			}
		}
		if len(mine) == 0 {
			continue
		}
		data, err := r.pieces.ReadPiece(ctx, r.src.Dir, kp.Piece)
		if err != nil {
			return fmt.Errorf("checkpoint %d: %w", r.src.Checkpoint, err)
		}
		for _, e := range mine {
			if e.Offset < 0 || e.Length < 0 || e.Offset+e.Length > int64(len(data)) {
				return fmt.Errorf("checkpoint %d piece %s: key group %d lies outside the piece", r.src.Checkpoint, kp.Piece.Name, e.Group)
			}
			if err := b.RestoreGroup(e.Group, data[e.Offset:e.Offset+e.Length]); err != nil {
				return fmt.Errorf("checkpoint %d piece %s key group %d: %w", r.src.Checkpoint, kp.Piece.Name, e.Group, err)
			}
		}
	}
	return nil
}
