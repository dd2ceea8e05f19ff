package task

import (
	"context"
	"errors"
	"io"

	"github.com/rs/zerolog"
	"gocloud.dev/blob"

	"github.com/sluicehq/sluice/executor/record"
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
