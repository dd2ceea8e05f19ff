package builtin

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/sluicehq/sluice/executor/operator"
	"github.com/sluicehq/sluice/executor/record"
	"github.com/sluicehq/sluice/executor/state"
)

// aggregator is count, sum, min or max as a fold over record.Values, shared
// by the keyed operators, their combiners and windows. An accumulator is a
// record.Value: null before the first input, then the count (an int), the
// sum (an int, or a float once a float was added or an int sum
// overflowed), or the smallest or largest number.
type aggregator struct {
	kind  aggKind
	field string // input field of sum, min and max
	as    string // output field, which also carries partial results
}

// rawInput returns what raw record r (of key k) adds to an accumulator: 1
// for count, the number in the input field otherwise.
func (g *aggregator) rawInput(r *record.Record, k record.Key) (record.Value, error) {
	if g.kind == aggCount {
		return record.IntV(1), nil
	}
	v, ok := r.Get(g.field)
	return v, g.checkNumber(v, ok, g.field, k)
}

// partialInput returns the partial result that a combiner's record carries.
func (g *aggregator) partialInput(r *record.Record, k record.Key) (record.Value, error) {
	v, ok := r.Get(g.as)
	if g.kind == aggCount {
		if !ok || v.Kind() != record.Int {
			return v, fmt.Errorf("%s: partial count %s of key %s is not an int", g.kind, jsonValue(v), jsonValue(k.Value()))
		}
		return v, nil
	}
	return v, g.checkNumber(v, ok, g.as, k)
}

func (g *aggregator) checkNumber(v record.Value, ok bool, field string, k record.Key) error {
	if v.IsNumber() {
		return nil
	}
	what := "missing"
	if ok {
		what = fmt.Sprintf("%s %s", v.Kind(), jsonValue(v))
	}
	return fmt.Errorf("%s: field %q of key %s is %s, not a number", g.kind, field, jsonValue(k.Value()), what)
}

// fold adds v, a number (or a partial result), to accumulator acc.
func fold(kind aggKind, acc, v record.Value) record.Value {
	switch kind {
	case aggCount:
		return record.IntV(acc.Int() + v.Int())
	case aggSum:
		return addNumbers(acc, v)
	case aggMin:
		if acc.IsNull() || v.Compare(acc) < 0 {
			return v
		}
	case aggMax:
		if acc.IsNull() || v.Compare(acc) > 0 {
			return v
		}
	}
	return acc
}

// addNumbers adds two numbers (null counts as int 0). The sum of ints is an
// int unless it overflows; otherwise it is a float.
func addNumbers(a, b record.Value) record.Value {
	if a.Kind() == record.Float || b.Kind() == record.Float {
		return record.FloatV(a.Float() + b.Float())
	}
	x, y := a.Int(), b.Int()
	s := x + y
	if (y > 0 && s < x) || (y < 0 && s > x) {
		return record.FloatV(float64(x) + float64(y))
	}
	return record.IntV(s)
}

// aggregateOp is count, sum, min or max. Each key's accumulator lives in
// the keyed state (value state keyedStateName), so that checkpoints
// include it.
type aggregateOp struct {
	aggregator
	every    bool
	out      operator.Emitter
	oc       operator.Context
	keyName  string
	combined bool
	accs     *state.Value
	rec      record.Record
}

func newAggregateOp(kind aggKind, field, as, emit string) *aggregateOp {
	return &aggregateOp{aggregator: aggregator{kind: kind, field: field, as: as}, every: emit == emitEvery}
}

// openKeyed checks the key name against the output field and returns the
// operator's value state.
func openKeyed(name string, oc operator.Context, as string) (*state.Value, error) {
	if as == oc.KeyName() {
		return nil, fmt.Errorf("%s: as %q is also the name of the key field", name, as)
	}
	b := oc.KeyedState()
	if b == nil {
		return nil, fmt.Errorf("%s: the runtime gives vertex %q no keyed state", name, oc.Vertex())
	}
	return b.Value(keyedStateName), nil
}

func (o *aggregateOp) Open(_ context.Context, oc operator.Context, out operator.Emitter) error {
	o.oc, o.out = oc, out
	o.keyName = oc.KeyName()
	o.combined = oc.Combined()
	accs, err := openKeyed(o.kind.String(), oc, o.as)
	if err != nil {
		return err
	}
	o.accs = accs
	return nil
}

func (o *aggregateOp) Process(r *record.Record) error {
	var (
		k   record.Key
		v   record.Value
		err error
	)
	if o.combined {
		k, err = partialKey(r, o.keyName)
	} else {
		k, err = o.oc.Key(r)
	}
	if err != nil {
		return fmt.Errorf("%s: key of %s: %w", o.kind, r, err)
	}
	if o.kind == aggCount && !o.combined {
		p := o.accs.Ref(k)
		*p = record.IntV(p.Int() + 1)
		if o.every {
			return o.emit(k, *p)
		}
		return nil
	}
	if o.combined {
		v, err = o.partialInput(r, k)
	} else {
		v, err = o.rawInput(r, k)
	}
	if err != nil {
		return err
	}
	p := o.accs.Ref(k)
	*p = fold(o.kind, *p, v)
	if o.every {
		return o.emit(k, *p)
	}
	return nil
}

// partialKey returns the key of a combiner's partial record, which carries
// it under the key name.
func partialKey(r *record.Record, keyName string) (record.Key, error) {
	v, ok := r.Get(keyName)
	if !ok {
		return record.Key{}, fmt.Errorf("partial record has no key field %q", keyName)
	}
	return record.KeyOf(v)
}

func (o *aggregateOp) emit(k record.Key, v record.Value) error {
	return emitKeyed(o.out, &o.rec, o.keyName, k, o.as, v)
}

// emitKeyed emits {<keyName>: k, <as>: v}, reusing rec.
func emitKeyed(out operator.Emitter, rec *record.Record, keyName string, k record.Key, as string, v record.Value) error {
	rec.Fields = append(rec.Fields[:0],
		record.Field{Name: keyName, Value: k.Value()},
		record.Field{Name: as, Value: v})
	return out.Emit(rec)
}

// EndInput emits every key's result (emit "final"), in key order. Keys
// restored from a checkpoint are included.
func (o *aggregateOp) EndInput() error {
	if o.every {
		return nil
	}
	return emitAll(o.out, &o.rec, o.keyName, o.as, o.accs)
}

// emitAll emits every entry of accs in key order.
func emitAll(out operator.Emitter, rec *record.Record, keyName, as string, accs *state.Value) error {
	for _, k := range stateKeys(accs) {
		v, _ := accs.Get(k)
		if err := emitKeyed(out, rec, keyName, k, as, v); err != nil {
			return err
		}
	}
	return nil
}

func (o *aggregateOp) Close() error {
	o.accs = nil
	return nil
}

// stateKeys returns the keys of s in record.Value order, so that final
// results come out in a deterministic order.
func stateKeys(s *state.Value) []record.Key {
	keys := make([]record.Key, 0, s.Len())
	s.Range(func(k record.Key, _ record.Value) bool {
		keys = append(keys, k)
		return true
	})
	slices.SortFunc(keys, compareKeys)
	return keys
}

// compareKeys orders keys by value, then kind (1 and 1.0 differ).
func compareKeys(a, b record.Key) int {
	va, vb := a.Value(), b.Value()
	if c := va.Compare(vb); c != 0 {
		return c
	}
	return cmp.Compare(va.Kind(), vb.Kind())
}
