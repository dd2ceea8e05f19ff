package builtin

import (
	"context"
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/executor/expr"
	"github.com/sluicehq/sluice/executor/operator"
	"github.com/sluicehq/sluice/executor/record"
	"github.com/sluicehq/sluice/executor/state"
)

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

// reduceOp folds each key's records with an expression; the accumulators
// live in the keyed state (value state keyedStateName).
type reduceOp struct {
	prog    *expr.Program
	as      string
	every   bool
	oc      operator.Context
	out     operator.Emitter
	keyName string
	accs    *state.Value
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
	if oc.Combined() {
		return errors.New("reduce: has no combiner, but the runtime reports combined input")
	}
	accs, err := openKeyed(Reduce, oc, o.as)
	if err != nil {
		return err
	}
	o.accs = accs
	return nil
}

func (o *reduceOp) Process(r *record.Record) error {
	k, err := o.oc.Key(r)
	if err != nil {
		return fmt.Errorf("reduce: key of %s: %w", r, err)
	}
	acc, ok := o.accs.Get(k)
	v, err := reduceStep(o.prog, acc, ok, r)
	if err != nil {
		return fmt.Errorf("reduce: key %s: %w", jsonValue(k.Value()), err)
	}
	o.accs.Set(k, v)
	if o.every {
		return emitKeyed(o.out, &o.rec, o.keyName, k, o.as, v)
	}
	return nil
}

// reduceStep evaluates a reduce expression over record r with acc, the
// accumulator (nil when there is none yet).
func reduceStep(prog *expr.Program, acc record.Value, ok bool, r *record.Record) (record.Value, error) {
	env := prog.Bind(r)
	if ok {
		env["acc"] = expr.ToAny(acc)
	} else {
		env["acc"] = nil
	}
	res, err := prog.EvalWith(env)
	if err != nil {
		return record.Value{}, err
	}
	v, err := expr.ToValue(res)
	if err != nil {
		return record.Value{}, fmt.Errorf("expression %q: result: %w", prog.Source(), err)
	}
	return v, nil
}

// EndInput emits every key's accumulator (emit "final"), in key order.
func (o *reduceOp) EndInput() error {
	if o.every {
		return nil
	}
	return emitAll(o.out, &o.rec, o.keyName, o.as, o.accs)
}

func (o *reduceOp) Close() error {
	o.accs = nil
	return nil
}
