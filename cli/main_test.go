package cli

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/sluicehq/sluice/executor/builtin"
	"github.com/sluicehq/sluice/executor/operator"
	"github.com/sluicehq/sluice/executor/record"
)

// The test binary doubles as the executor binary: the process launcher
// starts os.Executable() with "executor" as its first argument, and TestMain
// hands that to Main with the test registry (the built-ins plus a
// deliberately slow sink), exactly as a custom sluice binary would.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "executor" {
		os.Exit(Main(context.Background(), os.Args[1:], Options{Registry: testRegistry()}))
	}
	os.Exit(m.Run())
}

func testRegistry() *operator.Registry {
	r := builtin.NewRegistry()
	r.MustRegister(operator.Definition{
		Name:      "slow",
		Kind:      operator.KindSink,
		Doc:       "test sink that takes a while per record",
		NewConfig: func() any { return &slowConfig{Delay: "1ms"} },
		NewOperator: func(cfg any) (operator.Operator, error) {
			d, err := time.ParseDuration(cfg.(*slowConfig).Delay)
			if err != nil {
				return nil, err
			}
			return &slowSink{delay: d}, nil
		},
	}, operator.Definition{
		Name:      "fail",
		Kind:      operator.KindTransform,
		Doc:       "test transform that fails on the n-th record",
		NewConfig: func() any { return &failConfig{} },
		NewOperator: func(cfg any) (operator.Operator, error) {
			return &failOp{after: cfg.(*failConfig).After}, nil
		},
	})
	return r
}

type slowConfig struct {
	Delay string `json:"delay"`
}

type slowSink struct{ delay time.Duration }

func (s *slowSink) Open(context.Context, operator.Context, operator.Emitter) error { return nil }
func (s *slowSink) Process(*record.Record) error {
	time.Sleep(s.delay) // the sink's job: be slow
	return nil
}
func (s *slowSink) EndInput() error { return nil }
func (s *slowSink) Close() error    { return nil }

type failConfig struct {
	After int64 `json:"after"`
}

type failOp struct {
	after, n int64
	out      operator.Emitter
}

func (f *failOp) Open(_ context.Context, _ operator.Context, out operator.Emitter) error {
	f.out = out
	return nil
}

func (f *failOp) Process(r *record.Record) error {
	f.n++
	if f.n > f.after {
		return errBoom
	}
	return f.out.Emit(r)
}
func (f *failOp) EndInput() error { return nil }
func (f *failOp) Close() error    { return nil }

type boom struct{}

func (boom) Error() string { return "boom: the fail operator failed as configured" }

var errBoom error = boom{}
