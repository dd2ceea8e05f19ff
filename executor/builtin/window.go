package builtin

import (
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/executor/expr"
	"github.com/sluicehq/sluice/executor/operator"
)

// WindowConfig configures window, a keyed operator that aggregates each
// key's records per event-time window (as Flink's window operator with an
// event-time trigger). Records need event time (record.Record.Time): a
// source with a timestamp upstream.
//
// Windows are [start, end) in milliseconds since the epoch, aligned to the
// epoch. A window fires when the watermark reaches end-1, emitting
// {<key name>: key, windowStart: start, windowEnd: end, <as>: result} with
// event time end-1, and is purged when the watermark reaches
// end-1+allowedLateness. A record arriving after that for all its windows
// is late: it is counted (counter "lateRecords") and, with lateOutput, sent
// to that side output. A record for a window that fired but is not purged
// yet fires it again with the updated result. At the end of a bounded
// input every remaining window fires.
type WindowConfig struct {
	// Type is "tumbling" (windows of size), "sliding" (windows of size
	// every slide; a record belongs to about size/slide of them) or
	// "session" (a key's records less than gap apart, merged).
	Type string `json:"type"`
	// Size is the window length of tumbling and sliding windows, a
	// duration such as "10s" or "1m" (whole milliseconds).
	Size string `json:"size"`
	// Slide is the distance between sliding windows' starts.
	Slide string `json:"slide"`
	// Gap is the inactivity that ends a session.
	Gap string `json:"gap"`
	// Aggregate is "count", "sum", "min", "max", "avg" (a float) or
	// "reduce" (not for sessions: two accumulators cannot be merged).
	Aggregate string `json:"aggregate"`
	// Field is the numeric input field of sum, min, max and avg.
	Field string `json:"field"`
	// Expr is the reduce expression: its variables are acc, the window's
	// accumulator (nil for its first record), and the record's fields.
	Expr string `json:"expr"`
	// As is the output field of the result.
	As string `json:"as"`
	// AllowedLateness keeps windows after they fire, for late records to
	// update them; "" is 0.
	AllowedLateness string `json:"allowedLateness"`
	// LateOutput is the side output that late records go to; "" drops them.
	LateOutput string `json:"lateOutput"`
}

// Window types and aggregates.
const (
	windowTumbling = "tumbling"
	windowSliding  = "sliding"
	windowSession  = "session"

	// maxWindowsPerRecord bounds size/slide of sliding windows.
	maxWindowsPerRecord = 1000
)

// Output fields of window results.
const (
	fieldWindowStart = "windowStart"
	fieldWindowEnd   = "windowEnd"
)

var windowAggregates = map[string]aggKind{
	Count: aggCount, Sum: aggSum, Min: aggMin, Max: aggMax, "avg": aggAvg, Reduce: aggReduce,
}

func newWindowConfig() *WindowConfig { return &WindowConfig{Aggregate: Count, As: "value"} }

// windowSpec is a validated WindowConfig, durations in milliseconds.
type windowSpec struct {
	typ                   string
	size, slide, gap      int64
	lateness              int64
	agg                   aggKind
	field, expr, as, late string
}

// Validate implements operator.Validator.
func (c *WindowConfig) Validate() error {
	_, err := c.spec()
	return err
}

// spec checks c and parses its durations.
func (c *WindowConfig) spec() (windowSpec, error) {
	var errs []error
	s := windowSpec{typ: c.Type, field: c.Field, expr: c.Expr, as: c.As, late: c.LateOutput}
	dur := func(field, v string, need bool) int64 {
		switch {
		case v == "" && need:
			errs = append(errs, operator.Errorf(field, "required by type %q", c.Type))
		case v != "" && !need:
			errs = append(errs, operator.Errorf(field, "not used by type %q", c.Type))
		case v != "":
			ms, err := parseMillis(v)
			if err == nil && ms <= 0 {
				err = fmt.Errorf("must be positive, not %q", v)
			}
			if err != nil {
				errs = append(errs, operator.Errorf(field, "%v", err))
			}
			return ms
		}
		return 0
	}
	switch c.Type {
	case windowTumbling, windowSliding, windowSession:
		s.size = dur("size", c.Size, c.Type != windowSession)
		s.slide = dur("slide", c.Slide, c.Type == windowSliding)
		s.gap = dur("gap", c.Gap, c.Type == windowSession)
		if s.size > 0 && s.slide > 0 && (s.size+s.slide-1)/s.slide > maxWindowsPerRecord {
			errs = append(errs, operator.Errorf("slide", "size %s / slide %s puts a record in more than %d windows", c.Size, c.Slide, maxWindowsPerRecord))
		}
	case "":
		errs = append(errs, operator.Errorf("type", "required: %q, %q or %q", windowTumbling, windowSliding, windowSession))
	default:
		errs = append(errs, operator.Errorf("type", "must be %q, %q or %q, not %q", windowTumbling, windowSliding, windowSession, c.Type))
	}
	if c.AllowedLateness != "" {
		ms, err := parseMillis(c.AllowedLateness)
		if err == nil && ms < 0 {
			err = fmt.Errorf("must not be negative, not %q", c.AllowedLateness)
		}
		if err != nil {
			errs = append(errs, operator.Errorf("allowedLateness", "%v", err))
		}
		s.lateness = ms
	}
	agg, ok := windowAggregates[c.Aggregate]
	s.agg = agg
	switch {
	case !ok:
		errs = append(errs, operator.Errorf("aggregate", "must be count, sum, min, max, avg or reduce, not %q", c.Aggregate))
	case agg == aggCount:
		if c.Field != "" {
			errs = append(errs, operator.Errorf("field", "not used by aggregate %q", c.Aggregate))
		}
	case agg == aggReduce:
		errs = append(errs, checkExpr("expr", c.Expr))
		if c.Field != "" {
			errs = append(errs, operator.Errorf("field", "not used by aggregate %q", c.Aggregate))
		}
		if c.Type == windowSession {
			errs = append(errs, operator.Errorf("aggregate", "reduce cannot merge session windows: use count, sum, min, max or avg"))
		}
	default:
		errs = append(errs, required("field", c.Field))
	}
	if ok && agg != aggReduce && c.Expr != "" {
		errs = append(errs, operator.Errorf("expr", "only used by aggregate %q", Reduce))
	}
	switch c.As {
	case "":
		errs = append(errs, operator.Errorf("as", "required"))
	case fieldWindowStart, fieldWindowEnd:
		errs = append(errs, operator.Errorf("as", "%q is a field of the window's output", c.As))
	}
	return s, errors.Join(errs...)
}

// parseMillis parses a Go duration of whole milliseconds.
func parseMillis(s string) (int64, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("not a duration such as \"10s\" or \"1m30s\": %q", s)
	}
	if d%time.Millisecond != 0 {
		return 0, fmt.Errorf("must be whole milliseconds, not %q", s)
	}
	return d.Milliseconds(), nil
}

func windowDef() operator.Definition {
	return operator.Definition{
		Name:  Window,
		Kind:  operator.KindTransform,
		Keyed: true,
		Doc: "Aggregates each key's records per event-time window (tumbling, sliding or session) " +
			"and emits {<key>, windowStart, windowEnd, <as>} when the watermark passes the window's end; " +
			"late records are counted and optionally sent to a side output.",
		NewConfig:   func() any { return newWindowConfig() },
		NewOperator: newWindow,
	}
}

func newWindow(cfg any) (operator.Operator, error) {
	c, err := configAs(Window, cfg, newWindowConfig)
	if err != nil {
		return nil, err
	}
	s, err := c.spec()
	if err != nil {
		return nil, fmt.Errorf("window: invalid config: %w", err)
	}
	o := &windowOp{spec: s, agg: aggregator{kind: s.agg, field: s.field, as: s.as}}
	if s.agg == aggReduce {
		if o.prog, err = expr.Compile(s.expr); err != nil {
			return nil, fmt.Errorf("window: expr: %w", err)
		}
	}
	return o, nil
}
