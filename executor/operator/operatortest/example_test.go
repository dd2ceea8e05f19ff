package operatortest_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/executor/builtin"
	"github.com/sluicehq/sluice/executor/operator"
	"github.com/sluicehq/sluice/executor/operator/operatortest"
	"github.com/sluicehq/sluice/executor/record"
)

// UpperConfig is the config of the example operator: which field to upper-case.
type UpperConfig struct {
	Field string `json:"field"`
}

// Validate names the faulty field, so that job specs get precise errors.
func (c *UpperConfig) Validate() error {
	if c.Field == "" {
		return operator.Errorf("field", "required")
	}
	return nil
}

// upper is a transform that upper-cases one string field.
type upper struct {
	field string
	out   operator.Emitter
	rec   record.Record // reused for every output record
}

func (u *upper) Open(_ context.Context, _ operator.Context, out operator.Emitter) error {
	u.out = out
	return nil
}

func (u *upper) Process(r *record.Record) error {
	// r is only valid during the call and belongs to the caller: copy it
	u.rec.Fields = append(u.rec.Fields[:0], r.Fields...)
	if v, ok := r.Get(u.field); ok && v.Kind() == record.String {
		u.rec.Set(u.field, record.Str(strings.ToUpper(v.Str())))
	}
	return u.out.Emit(&u.rec)
}

func (u *upper) EndInput() error { return nil }
func (u *upper) Close() error    { return nil }

func upperDefinition() operator.Definition {
	return operator.Definition{
		Name:      "upper",
		Kind:      operator.KindTransform,
		Doc:       "Upper-cases a string field.",
		NewConfig: func() any { return &UpperConfig{Field: "name"} },
		NewOperator: func(cfg any) (operator.Operator, error) {
			return &upper{field: cfg.(*UpperConfig).Field}, nil
		},
	}
}

// Example shows how to write an operator, register it next to the
// built-ins, and test it. In a test, pass the *testing.T instead of nil.
func Example() {
	def := upperDefinition()
	reg := builtin.NewRegistry()
	if err := reg.Register(def); err != nil {
		panic(err)
	}

	op := operatortest.NewOperator(nil, def, `{"field":"city"}`)
	out, err := operatortest.RunOperator(nil, op, operatortest.NewContext(nil),
		operatortest.Records(`{"city":"paris","n":1}`, `{"n":2}`))
	fmt.Print(operatortest.JSON(out))
	fmt.Println("error:", err)

	// config problems name their fields
	for _, e := range operatortest.ConfigErrors(def, `{"field":"","citty":"x"}`) {
		fmt.Println(e)
	}
	// Output:
	// {"city":"PARIS","n":1}
	// {"n":2}
	// error: <nil>
	// citty: unknown field "citty"
}

// ExampleRunCombined runs the built-in count behind its combiner, as the
// runtime does before a shuffle, over two partitions of the input.
func ExampleRunCombined() {
	def, _ := builtin.NewRegistry().Lookup("count")
	cfg := operatortest.DecodeConfig(nil, def, `{"as":"n"}`)
	oc := operatortest.NewContext(nil).Keyed("word")
	defer oc.Close()

	out, err := operatortest.RunCombined(nil, def, cfg, oc,
		operatortest.Records(`{"word":"a"}`, `{"word":"b"}`, `{"word":"a"}`),
		operatortest.Records(`{"word":"a"}`, `{"word":"c"}`))
	fmt.Print(operatortest.JSON(out))
	fmt.Println("error:", err)
	// Output:
	// {"word":"a","n":3}
	// {"word":"b","n":1}
	// {"word":"c","n":1}
	// error: <nil>
}

// ExampleRunSteps runs the built-in window operator through an event-time
// scenario: records out of order, watermarks, a late record.
func ExampleRunSteps() {
	def, _ := builtin.NewRegistry().Lookup("window")
	op := operatortest.NewOperator(nil, def, `{"type":"tumbling","size":"10ms","aggregate":"sum","field":"n","as":"total"}`)
	oc := operatortest.NewContext(nil).Keyed("user")
	defer oc.Close()

	out, err := operatortest.RunSteps(nil, op, oc, []operatortest.Step{
		operatortest.At(3, `{"user":"ann","n":1}`),
		operatortest.At(12, `{"user":"ann","n":5}`),
		operatortest.At(7, `{"user":"ann","n":2}`),
		operatortest.WM(10),
		operatortest.At(8, `{"user":"ann","n":100}`), // late
	})
	fmt.Print(operatortest.Trace(out))
	fmt.Println("late:", oc.CounterValue("lateRecords"), "error:", err)
	// Output:
	// {"user":"ann","windowStart":0,"windowEnd":10,"total":3} @9
	// wm 10
	// {"user":"ann","windowStart":10,"windowEnd":20,"total":5} @19
	// wm +inf
	// late: 1 error: <nil>
}
