package jobspec

import (
	"context"
	"errors"

	"github.com/sluicehq/sluice/executor/operator"
)

type genConfig struct {
	Count  int    `json:"count"`
	Bucket string `json:"bucket"`
}

type mapConfig struct {
	Expr string `json:"expr"`
}

func (c *mapConfig) Validate() error {
	if c.Expr == "" {
		return operator.Errorf("expr", "is required")
	}
	return nil
}

type countConfig struct {
	Key string `json:"key"`
}

// testCatalog has a source, transforms (one keyed) and a sink.
func testCatalog() *operator.Registry {
	newOp := func(any) (operator.Operator, error) { return nil, errors.New("not for running") }
	reg := operator.NewRegistry()
	reg.MustRegister(
		operator.Definition{
			Name: "gen", Kind: operator.KindSource,
			NewConfig: func() any { return &genConfig{} },
			NewSource: func(any) (operator.Source, error) { return nil, errors.New("not for running") },
			Splits: func(context.Context, operator.EnumerateEnv, any) ([]operator.Split, error) {
				return nil, nil
			},
		},
		operator.Definition{Name: "map", Kind: operator.KindTransform, NewConfig: func() any { return &mapConfig{} }, NewOperator: newOp},
		operator.Definition{Name: "tokenize", Kind: operator.KindTransform, NewOperator: newOp},
		operator.Definition{Name: "count", Kind: operator.KindTransform, Keyed: true, NewConfig: func() any { return &countConfig{} }, NewOperator: newOp},
		operator.Definition{Name: "print", Kind: operator.KindSink, NewOperator: newOp},
	)
	return reg
}
