package builtin

import (
	"context"
	"fmt"

	"github.com/sluicehq/sluice/executor/operator"
	"github.com/sluicehq/sluice/executor/record"
)

// combinerMaxKeys is how many keys a combiner holds before it flushes its
// partial results downstream.
const combinerMaxKeys = 1 << 16

// combinerOp pre-aggregates raw records per key before the shuffle into a
// count, sum, min or max operator, and emits partial records
// {<KeyName>: key, <as>: partial} when it holds too many keys and at the end
// of its input. The keyed operator, told by Context.Combined, merges them.
type combinerOp struct {
	aggState
	maxKeys int
	oc      operator.Context
	out     operator.Emitter
	keyName string
	rec     record.Record
}

func newCombiner(kind aggKind, field, as string) *combinerOp {
	return &combinerOp{aggState: aggState{kind: kind, field: field, as: as}, maxKeys: combinerMaxKeys}
}

func (c *combinerOp) Open(_ context.Context, oc operator.Context, out operator.Emitter) error {
	c.oc, c.out = oc, out
	c.keyName = oc.KeyName()
	if c.as == c.keyName {
		return fmt.Errorf("%s combiner: as %q is also the name of the key field", c.kind, c.as)
	}
	c.accs = make(map[record.Key]*accum)
	return nil
}

func (c *combinerOp) Process(r *record.Record) error {
	k, err := c.oc.Key(r)
	if err != nil {
		return fmt.Errorf("%s combiner: key of %s: %w", c.kind, r, err)
	}
	a, err := c.lookup(k)
	if err != nil {
		return fmt.Errorf("%s combiner: key of %s: %w", c.kind, r, err)
	}
	if err := c.addRaw(a, r, k); err != nil {
		return err
	}
	if len(c.accs) >= c.maxKeys {
		return c.flush()
	}
	return nil
}

// flush emits a partial record per key and forgets them.
func (c *combinerOp) flush() error {
	for k, a := range c.accs {
		c.rec.Fields = append(c.rec.Fields[:0],
			record.Field{Name: c.keyName, Value: k.Value()},
			record.Field{Name: c.as, Value: a.value(c.kind)})
		if err := c.out.Emit(&c.rec); err != nil {
			return err
		}
	}
	clear(c.accs)
	c.slab = c.slab[:0] // nothing points into it any more
	return nil
}

func (c *combinerOp) EndInput() error { return c.flush() }

func (c *combinerOp) Close() error {
	c.accs, c.slab = nil, nil
	return nil
}
