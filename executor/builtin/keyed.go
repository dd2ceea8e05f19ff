package builtin

import (
	"errors"

	"github.com/sluicehq/sluice/executor/operator"
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

// aggKind is an aggregate function of the keyed operators and windows.
type aggKind int

const (
	aggCount aggKind = iota
	aggSum
	aggMin
	aggMax
	aggAvg    // windows only
	aggReduce // windows only (keyed reduce is reduceOp)
)

func (k aggKind) String() string {
	return [...]string{Count, Sum, Min, Max, "avg", Reduce}[k]
}

// keyedStateName is the value state in which count, sum, min, max and
// reduce keep each key's accumulator.
const keyedStateName = "agg"

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
