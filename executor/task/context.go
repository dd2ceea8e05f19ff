package task

import (
	"context"
	"errors"
	"io"
	"sync/atomic"

	"github.com/rs/zerolog"
	"gocloud.dev/blob"

	"github.com/sluicehq/sluice/executor/operator"
	"github.com/sluicehq/sluice/executor/record"
	"github.com/sluicehq/sluice/executor/state"
)

// opContext implements operator.Context for one stage of a subtask.
type opContext struct {
	t     *Task
	s     *stage
	head  bool
	sel   *keySelector // for combiners: the output edge's key
	log   zerolog.Logger
	combd bool
}

func (t *Task) newContext(s *stage, pos int) *opContext {
	return &opContext{
		t:     t,
		s:     s,
		head:  pos == 0,
		log:   t.log.With().Str("vertex", s.vertex).Logger(),
		combd: pos == 0 && t.combined,
	}
}

func (c *opContext) Job() string            { return c.t.cfg.Job }
func (c *opContext) Vertex() string         { return c.s.vertex }
func (c *opContext) Subtask() int           { return c.t.cfg.ID.Index }
func (c *opContext) Attempt() int           { return max(c.t.cfg.Attempt, 1) }
func (c *opContext) Parallelism() int       { return c.t.pipe.Parallelism }
func (c *opContext) Logger() zerolog.Logger { return c.log }
func (c *opContext) Stdout() io.Writer      { return c.t.cfg.Stdout }
func (c *opContext) Combined() bool         { return c.combd }

func (c *opContext) Bucket(ctx context.Context, url string) (*blob.Bucket, error) {
	return c.t.cfg.Buckets(ctx, url)
}

var errNotKeyed = errors.New("the operator has no hash input edge, so records have no key")

func (c *opContext) selector() *keySelector {
	if c.sel != nil {
		return c.sel
	}
	if !c.head || len(c.t.inSel) == 0 {
		return nil
	}
	return c.t.inSel[c.t.curEdge]
}

func (c *opContext) Key(r *record.Record) (record.Key, error) {
	s := c.selector()
	if s == nil {
		return record.Key{}, errNotKeyed
	}
	return s.key(r)
}

func (c *opContext) KeyName() string {
	if s := c.selector(); s != nil {
		return s.name()
	}
	return "key"
}

func (c *opContext) MaxParallelism() int { return c.t.cfg.Plan.MaxParallelism }

func (c *opContext) KeyedState() *state.Backend {
	if c.head && c.s.keyed {
		return c.t.keyed
	}
	return nil
}

func (c *opContext) Watermark() int64 { return c.t.watermark }

func (c *opContext) Counter(name string) *atomic.Int64 {
	c.s.countMu.Lock()
	defer c.s.countMu.Unlock()
	n, ok := c.s.counters[name]
	if !ok {
		n = new(atomic.Int64)
		c.s.counters[name] = n
	}
	return n
}

// SideOutput routes to the writers of edges leaving the vertex with that
// output name (only a pipeline's last vertex can have them).
func (c *opContext) SideOutput(name string) operator.Emitter {
	ws := c.t.sideWriters[name]
	if c.s != c.t.stages[len(c.t.stages)-1] || len(ws) == 0 {
		dropped := c.Counter("droppedSideOutput." + name)
		return operator.EmitterFunc(func(*record.Record) error {
			dropped.Add(1)
			return nil
		})
	}
	if len(ws) == 1 {
		return ws[0]
	}
	return operator.EmitterFunc(func(r *record.Record) error {
		for _, w := range ws {
			if err := w.Emit(r); err != nil {
				return err
			}
		}
		return nil
	})
}

// counterValues reads a stage's named counters.
func (s *stage) counterValues() map[string]int64 {
	s.countMu.Lock()
	defer s.countMu.Unlock()
	if len(s.counters) == 0 {
		return nil
	}
	out := make(map[string]int64, len(s.counters))
	for k, v := range s.counters {
		out[k] = v.Load()
	}
	return out
}
