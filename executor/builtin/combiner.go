package builtin

import (
	"context"
	"fmt"

	"github.com/sluicehq/sluice/executor/operator"
	"github.com/sluicehq/sluice/executor/record"
	"github.com/sluicehq/sluice/executor/state"
)

// combinerMaxKeys is how many keys a combiner holds before it flushes its
// partial results downstream.
const combinerMaxKeys = 1 << 16

// combinerOp pre-aggregates raw records per key before the shuffle into a
// count, sum, min or max operator, and emits partial records
// {<KeyName>: key, <as>: partial} when it holds too many keys, before each
// checkpoint barrier (so that its partials belong to the checkpoint: it
// keeps no checkpointed state) and at the end of its input. The keyed
// operator, told by Context.Combined, merges them.
//
// Its partials live in a private state.Value (not the runtime's keyed
// state), for its fast string-key path and its key copying.
type combinerOp struct {
	aggregator
	maxKeys  int
	oc       operator.Context
	out      operator.Emitter
	keyName  string
	partials *state.Value
	rec      record.Record
}

func newCombiner(kind aggKind, field, as string) *combinerOp {
	return &combinerOp{aggregator: aggregator{kind: kind, field: field, as: as}, maxKeys: combinerMaxKeys}
}

// newPartials returns an empty table of partial results.
func newPartials() *state.Value { return state.NewBackend(1).Value("partials") }

func (c *combinerOp) Open(_ context.Context, oc operator.Context, out operator.Emitter) error {
	c.oc, c.out = oc, out
	c.keyName = oc.KeyName()
	if c.as == c.keyName {
		return fmt.Errorf("%s combiner: as %q is also the name of the key field", c.kind, c.as)
	}
	c.partials = newPartials()
	return nil
}

func (c *combinerOp) Process(r *record.Record) error {
	k, err := c.oc.Key(r)
	if err != nil {
		return fmt.Errorf("%s combiner: key of %s: %w", c.kind, r, err)
	}
	if c.kind == aggCount {
		p := c.partials.Ref(k)
		*p = record.IntV(p.Int() + 1)
	} else {
		v, err := c.rawInput(r, k)
		if err != nil {
			return err
		}
		p := c.partials.Ref(k)
		*p = fold(c.kind, *p, v)
	}
	if c.partials.Len() >= c.maxKeys {
		return c.flush()
	}
	return nil
}

// flush emits a partial record per key and forgets them.
func (c *combinerOp) flush() error {
	if c.partials.Len() == 0 {
		return nil
	}
	var err error
	c.partials.Range(func(k record.Key, v record.Value) bool {
		err = emitKeyed(c.out, &c.rec, c.keyName, k, c.as, v)
		return err == nil
	})
	c.partials.Clear()
	return err
}

// FlushBeforeBarrier implements operator.BarrierFlusher: the partials
// precede the barrier, so the keyed operator's snapshot includes them.
func (c *combinerOp) FlushBeforeBarrier(int64) error { return c.flush() }

func (c *combinerOp) EndInput() error { return c.flush() }

func (c *combinerOp) Close() error {
	c.partials = nil
	return nil
}
