package main

import (
	"context"

	"github.com/sluicehq/sluice/executor/operator"
	"github.com/sluicehq/sluice/executor/record"
)

// ReverseConfig is the "reverse" operator's config.
type ReverseConfig struct {
	// Field is the string field to reverse.
	Field string `json:"field"`
}

// Validate implements operator.Validator.
func (c *ReverseConfig) Validate() error {
	if c.Field == "" {
		return operator.Errorf("field", "is required")
	}
	return nil
}

// Reverse describes the operator to the registry.
func Reverse() operator.Definition {
	return operator.Definition{
		Name:      "reverse",
		Kind:      operator.KindTransform,
		Doc:       "reverses the characters of a string field",
		NewConfig: func() any { return &ReverseConfig{} },
		NewOperator: func(cfg any) (operator.Operator, error) {
			return &reverse{field: cfg.(*ReverseConfig).Field}, nil
		},
	}
}

type reverse struct {
	field string
	out   operator.Emitter
	rec   record.Record
}

func (r *reverse) Open(_ context.Context, _ operator.Context, out operator.Emitter) error {
	r.out = out
	return nil
}

func (r *reverse) Process(in *record.Record) error {
	// records passed to Process are only valid during the call: copy the
	// fields into our own record before changing one
	r.rec.Fields = append(r.rec.Fields[:0], in.Fields...)
	if v, ok := in.Get(r.field); ok && v.Kind() == record.String {
		rs := []rune(v.Str())
		for i, j := 0, len(rs)-1; i < j; i, j = i+1, j-1 {
			rs[i], rs[j] = rs[j], rs[i]
		}
		r.rec.Set(r.field, record.Str(string(rs)))
	}
	return r.out.Emit(&r.rec)
}

func (r *reverse) EndInput() error { return nil }
func (r *reverse) Close() error    { return nil }
