package builtin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/sluicehq/sluice/executor/expr"
	"github.com/sluicehq/sluice/executor/operator"
	"github.com/sluicehq/sluice/executor/record"
)

// CountConfig configures count.
type CountConfig struct {
	// As is the output field of the count.
	As string `json:"as"`
	// Emit is "final" (one record per key at the end of the input) or
	// "every" (the updated count after every record).
	Emit string `json:"emit"`
}

// Validate implements operator.Validator.
func (c *CountConfig) Validate() error {
	return errors.Join(required("as", c.As), checkEmit(c.Emit))
}

// AggregateConfig configures sum, min and max.
type AggregateConfig struct {
	// Field is the numeric input field.
	Field string `json:"field"`
	// As is the output field; it defaults to the operator's name.
	As string `json:"as"`
	// Emit is "final" or "every", as for count.
	Emit string `json:"emit"`
}

// Validate implements operator.Validator.
func (c *AggregateConfig) Validate() error {
	return errors.Join(required("field", c.Field), required("as", c.As), checkEmit(c.Emit))
}

// ReduceConfig configures reduce.
type ReduceConfig struct {
	// Expr computes a key's new accumulator from acc, the previous one (nil
	// for the key's first record), and the record's fields.
	Expr string `json:"expr"`
	// As is the output field of the accumulator.
	As string `json:"as"`
	// Emit is "final" or "every", as for count.
	Emit string `json:"emit"`
}

// Validate implements operator.Validator.
func (c *ReduceConfig) Validate() error {
	return errors.Join(checkExpr("expr", c.Expr), required("as", c.As), checkEmit(c.Emit))
}

type aggKind int

const (
	aggCount aggKind = iota
	aggSum
	aggMin
	aggMax
)

func (k aggKind) String() string {
	return [...]string{Count, Sum, Min, Max}[k]
}

func countDef() operator.Definition {
	newConfig := func() *CountConfig { return &CountConfig{As: "count", Emit: emitFinal} }
	return operator.Definition{
		Name:      Count,
		Kind:      operator.KindTransform,
		Keyed:     true,
		Doc:       "Counts the records of each key.",
		NewConfig: func() any { return newConfig() },
		NewOperator: func(cfg any) (operator.Operator, error) {
			c, err := configAs(Count, cfg, newConfig)
			if err != nil {
				return nil, err
			}
			return newAggregateOp(aggCount, "", c.As, c.Emit), nil
		},
		NewCombiner: func(cfg any) (operator.Operator, bool) {
			c, err := configAs(Count, cfg, newConfig)
			if err != nil || c.Emit != emitFinal {
				return nil, false
			}
			return newCombiner(aggCount, "", c.As), true
		},
	}
}

func aggregateDef(kind aggKind) operator.Definition {
	name := kind.String()
	newConfig := func() *AggregateConfig { return &AggregateConfig{As: name, Emit: emitFinal} }
	doc := map[aggKind]string{
		aggSum: "Sums a numeric field per key; the sum of ints is an int, a float makes it a float.",
		aggMin: "Keeps the smallest value of a numeric field per key.",
		aggMax: "Keeps the largest value of a numeric field per key.",
	}[kind]
	return operator.Definition{
		Name:      name,
		Kind:      operator.KindTransform,
		Keyed:     true,
		Doc:       doc,
		NewConfig: func() any { return newConfig() },
		NewOperator: func(cfg any) (operator.Operator, error) {
			c, err := configAs(name, cfg, newConfig)
			if err != nil {
				return nil, err
			}
			return newAggregateOp(kind, c.Field, c.As, c.Emit), nil
		},
		NewCombiner: func(cfg any) (operator.Operator, bool) {
			c, err := configAs(name, cfg, newConfig)
			if err != nil || c.Emit != emitFinal {
				return nil, false
			}
			return newCombiner(kind, c.Field, c.As), true
		},
	}
}

// accum is one key's aggregate.
type accum struct {
	n       int64        // the count, or the sum while it is an int
	f       float64      // the sum once it is a float
	isFloat bool         // the sum is a float
	v       record.Value // min or max; null before the first value
}

// aggState is the per-key state shared by the keyed operators and their
// combiners.
type aggState struct {
	kind  aggKind
	field string // input field of sum, min, max
	as    string
	accs  map[record.Key]*accum
	slab  []accum
}

// lookup returns k's accumulator, creating it (with a copy of the key, so
// that the map does not keep a larger input string alive) if needed.
func (s *aggState) lookup(k record.Key) (*accum, error) {
	if a := s.accs[k]; a != nil {
		return a, nil
	}
	k, err := ownKey(k)
	if err != nil {
		return nil, err
	}
	if len(s.slab) == cap(s.slab) {
		s.slab = make([]accum, 0, 1024)
	}
	s.slab = s.slab[:len(s.slab)+1]
	a := &s.slab[len(s.slab)-1]
	*a = accum{} // the slab may be reused after a combiner flush
	s.accs[k] = a
	return a, nil
}

// ownKey returns k with its own copy of a string.
func ownKey(k record.Key) (record.Key, error) {
	v := k.Value()
	if v.Kind() != record.String {
		return k, nil
	}
	return record.KeyOf(record.Str(strings.Clone(v.Str())))
}

// addRaw adds a raw input record to a.
func (s *aggState) addRaw(a *accum, r *record.Record, k record.Key) error {
	if s.kind == aggCount {
		a.n++
		return nil
	}
	v, ok := r.Get(s.field)
	return s.addValue(a, v, ok, s.field, k)
}

// addPartial merges a combiner's partial result into a.
func (s *aggState) addPartial(a *accum, r *record.Record, k record.Key) error {
	v, ok := r.Get(s.as)
	if s.kind == aggCount {
		if !ok || v.Kind() != record.Int {
			return fmt.Errorf("%s: partial count %s of key %s is not an int", s.kind, jsonValue(v), jsonValue(k.Value()))
		}
		a.n += v.Int()
		return nil
	}
	return s.addValue(a, v, ok, s.as, k)
}

func (s *aggState) addValue(a *accum, v record.Value, ok bool, field string, k record.Key) error {
	if !v.IsNumber() {
		what := "missing"
		if ok {
			what = fmt.Sprintf("%s %s", v.Kind(), jsonValue(v))
		}
		return fmt.Errorf("%s: field %q of key %s is %s, not a number", s.kind, field, jsonValue(k.Value()), what)
	}
	switch s.kind {
	case aggSum:
		a.add(v)
	case aggMin:
		if a.v.IsNull() || v.Compare(a.v) < 0 {
			a.v = v
		}
	case aggMax:
		if a.v.IsNull() || v.Compare(a.v) > 0 {
			a.v = v
		}
	}
	return nil
}

// add adds a number to a sum. An int sum that would overflow becomes a float.
func (a *accum) add(v record.Value) {
	if v.Kind() == record.Int && !a.isFloat {
		x := v.Int()
		s := a.n + x
		if (x > 0 && s < a.n) || (x < 0 && s > a.n) {
			a.isFloat, a.f = true, float64(a.n)+float64(x)
			return
		}
		a.n = s
		return
	}
	if !a.isFloat {
		a.isFloat, a.f = true, float64(a.n)
	}
	a.f += v.Float()
}

func (a *accum) value(kind aggKind) record.Value {
	switch kind {
	case aggCount:
		return record.IntV(a.n)
	case aggSum:
		if a.isFloat {
			return record.FloatV(a.f)
		}
		return record.IntV(a.n)
	}
	return a.v
}

// aggregateOp is count, sum, min or max.
type aggregateOp struct {
	aggState
	every    bool
	oc       operator.Context
	out      operator.Emitter
	keyName  string
	combined bool
	rec      record.Record
}

func newAggregateOp(kind aggKind, field, as, emit string) *aggregateOp {
	return &aggregateOp{aggState: aggState{kind: kind, field: field, as: as}, every: emit == emitEvery}
}

func (o *aggregateOp) Open(_ context.Context, oc operator.Context, out operator.Emitter) error {
	o.oc, o.out = oc, out
	o.keyName = oc.KeyName()
	o.combined = oc.Combined()
	if o.as == o.keyName {
		return fmt.Errorf("%s: as %q is also the name of the key field", o.kind, o.as)
	}
	o.accs = make(map[record.Key]*accum)
	return nil
}

func (o *aggregateOp) Process(r *record.Record) error {
	var (
		k   record.Key
		a   *accum
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
	if a, err = o.lookup(k); err != nil {
		return fmt.Errorf("%s: key of %s: %w", o.kind, r, err)
	}
	if o.combined {
		err = o.addPartial(a, r, k)
	} else {
		err = o.addRaw(a, r, k)
	}
	if err != nil {
		return err
	}
	if o.every {
		return o.emit(k, a.value(o.kind))
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
	o.rec.Fields = append(o.rec.Fields[:0],
		record.Field{Name: o.keyName, Value: k.Value()},
		record.Field{Name: o.as, Value: v})
	return o.out.Emit(&o.rec)
}

func (o *aggregateOp) EndInput() error {
	if o.every {
		return nil
	}
	for _, k := range sortedStateKeys(o.accs) {
		if err := o.emit(k, o.accs[k].value(o.kind)); err != nil {
			return err
		}
	}
	return nil
}

func (o *aggregateOp) Close() error {
	o.accs, o.slab = nil, nil
	return nil
}

// sortedStateKeys returns m's keys in record.Value order, so that final
// results come out in a deterministic order.
func sortedStateKeys[V any](m map[record.Key]V) []record.Key {
	keys := make([]record.Key, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b record.Key) int {
		va, vb := a.Value(), b.Value()
		if c := va.Compare(vb); c != 0 {
			return c
		}
		return cmp.Compare(va.Kind(), vb.Kind())
	})
	return keys
}

func reduceDef() operator.Definition {
	return operator.Definition{
		Name:  Reduce,
		Kind:  operator.KindTransform,
		Keyed: true,
		Doc: "Folds the records of each key with expr, whose variables are the record's fields " +
			"and acc, the key's accumulator (nil on its first record).",
		NewConfig:   func() any { return newReduceConfig() },
		NewOperator: newReduce,
	}
}

func newReduceConfig() *ReduceConfig { return &ReduceConfig{As: "value", Emit: emitFinal} }

type reduceOp struct {
	prog    *expr.Program
	as      string
	every   bool
	oc      operator.Context
	out     operator.Emitter
	keyName string
	accs    map[record.Key]*record.Value
	rec     record.Record
}

func newReduce(cfg any) (operator.Operator, error) {
	c, err := configAs(Reduce, cfg, newReduceConfig)
	if err != nil {
		return nil, err
	}
	p, err := expr.Compile(c.Expr)
	if err != nil {
		return nil, fmt.Errorf("reduce: expr: %w", err)
	}
	return &reduceOp{prog: p, as: c.As, every: c.Emit == emitEvery}, nil
}

func (o *reduceOp) Open(_ context.Context, oc operator.Context, out operator.Emitter) error {
	o.oc, o.out = oc, out
	o.keyName = oc.KeyName()
	if o.as == o.keyName {
		return fmt.Errorf("reduce: as %q is also the name of the key field", o.as)
	}
	if oc.Combined() {
		return errors.New("reduce: has no combiner, but the runtime reports combined input")
	}
	o.accs = make(map[record.Key]*record.Value)
	return nil
}

func (o *reduceOp) Process(r *record.Record) error {
	k, err := o.oc.Key(r)
	if err != nil {
		return fmt.Errorf("reduce: key of %s: %w", r, err)
	}
	acc := o.accs[k]
	env := o.prog.Bind(r)
	if acc != nil {
		env["acc"] = expr.ToAny(*acc)
	} else {
		env["acc"] = nil
	}
	res, err := o.prog.EvalWith(env)
	if err != nil {
		return fmt.Errorf("reduce: key %s: %w", jsonValue(k.Value()), err)
	}
	v, err := expr.ToValue(res)
	if err != nil {
		return fmt.Errorf("reduce: key %s: expression %q: result: %w", jsonValue(k.Value()), o.prog.Source(), err)
	}
	if acc == nil {
		if k, err = ownKey(k); err != nil {
			return fmt.Errorf("reduce: key of %s: %w", r, err)
		}
		acc = new(record.Value)
		o.accs[k] = acc
	}
	*acc = v
	if o.every {
		return o.emit(k, v)
	}
	return nil
}

func (o *reduceOp) emit(k record.Key, v record.Value) error {
	o.rec.Fields = append(o.rec.Fields[:0],
		record.Field{Name: o.keyName, Value: k.Value()},
		record.Field{Name: o.as, Value: v})
	return o.out.Emit(&o.rec)
}

func (o *reduceOp) EndInput() error {
	if o.every {
		return nil
	}
	for _, k := range sortedStateKeys(o.accs) {
		if err := o.emit(k, *o.accs[k]); err != nil {
			return err
		}
	}
	return nil
}

func (o *reduceOp) Close() error {
	o.accs = nil
	return nil
}
