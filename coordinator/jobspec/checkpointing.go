package jobspec

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a time span written as a Go duration string ("500ms", "2s")
// or a number of milliseconds.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string or milliseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		return nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		*d = Duration(time.Duration(n) * time.Millisecond)
		return nil
	}
	var str string
	if err := json.Unmarshal(b, &str); err != nil {
		return fmt.Errorf("must be a duration such as \"500ms\" or a number of milliseconds")
	}
	v, err := time.ParseDuration(str)
	if err != nil {
		return fmt.Errorf("must be a duration such as \"500ms\": %v", err)
	}
	*d = Duration(v)
	return nil
}

// Checkpointing configures periodic checkpoints (off while Interval is 0).
type Checkpointing struct {
	// Interval between checkpoint triggers.
	Interval Duration `json:"interval,omitempty"`
	// Mode is "exactly-once" (default: barriers are aligned at operators
	// with several inputs) or "at-least-once" (no alignment).
	Mode string `json:"mode,omitempty"`
	// Timeout aborts a checkpoint that has not completed; default 60s.
	Timeout Duration `json:"timeout,omitempty"`
	// MinPause is the least time between the end of one checkpoint and
	// the start of the next.
	MinPause Duration `json:"minPause,omitempty"`
	// Retained is how many complete checkpoints are kept; default 3.
	Retained int `json:"retained,omitempty"`
	// MaxConsecutiveFailures makes the job restart after that many failed
	// checkpoints in a row; 0 (the default) never does: a failed checkpoint
	// is recorded and the next one is tried.
	MaxConsecutiveFailures int `json:"maxConsecutiveFailures,omitempty"`
}

// Checkpoint modes.
const (
	ExactlyOnce = "exactly-once"
	AtLeastOnce = "at-least-once"
)

// Restart configures the restart strategy.
type Restart struct {
	// Strategy is "exponential-delay" (default), "fixed-delay",
	// "failure-rate" or "none".
	Strategy string `json:"strategy,omitempty"`
	// Attempts bounds restarts for fixed-delay and exponential-delay;
	// default 10.
	Attempts int `json:"attempts,omitempty"`
	// Delay is the fixed or failure-rate delay (default 1s) and the
	// exponential strategy's first delay (default 100ms); "0s" restarts at
	// once.
	Delay *Duration `json:"delay,omitempty"`
	// MaxDelay caps exponential delays; default 10s.
	MaxDelay Duration `json:"maxDelay,omitempty"`
	// Multiplier grows exponential delays; default 2.
	Multiplier float64 `json:"multiplier,omitempty"`
	// Jitter randomises exponential delays by up to this fraction; default 0.1.
	Jitter float64 `json:"jitter,omitempty"`
	// MaxFailures within Interval for failure-rate; defaults 3 per 1m.
	MaxFailures int      `json:"maxFailures,omitempty"`
	Interval    Duration `json:"interval,omitempty"`
}

// Restart strategies.
const (
	RestartExponential = "exponential-delay"
	RestartFixed       = "fixed-delay"
	RestartFailureRate = "failure-rate"
	RestartNone        = "none"
)

// EventTime assigns event times and watermarks at a source.
type EventTime struct {
	// Timestamp is an expression over the record giving its event time in
	// milliseconds since the epoch.
	Timestamp string `json:"timestamp,omitempty"`
	// MaxOutOfOrderness is how late a record may be and still be in time:
	// the watermark trails the largest timestamp seen by this much.
	MaxOutOfOrderness Duration `json:"maxOutOfOrderness,omitempty"`
	// IdleTimeout marks a source subtask idle after this long without
	// records, so that it does not hold the watermark back; 0 = never.
	IdleTimeout Duration `json:"idleTimeout,omitempty"`
	// PerRecord emits a watermark after every record that advances it
	// (Flink's punctuated watermarks) instead of every 200 ms: exact for
	// slow or replayed sources, more events for fast ones.
	PerRecord bool `json:"perRecord,omitempty"`
}

// validateJobSettings checks checkpointing, restart and event-time settings.
func (v *validator) validateJobSettings() {
	c := v.s.Checkpointing
	if c.Interval < 0 {
		v.p.add("checkpointing.interval", "must not be negative")
	} else if c.Interval > 0 && c.Interval.D() < 10*time.Millisecond {
		v.p.add("checkpointing.interval", "must be at least 10ms")
	}
	switch c.Mode {
	case "", ExactlyOnce, AtLeastOnce:
	default:
		v.p.add("checkpointing.mode", fmt.Sprintf("unknown mode %q (use %q or %q)", c.Mode, ExactlyOnce, AtLeastOnce))
	}
	if c.Timeout < 0 || c.MinPause < 0 {
		v.p.add("checkpointing", "timeout and minPause must not be negative")
	}
	if c.Retained < 0 || c.MaxConsecutiveFailures < 0 {
		v.p.add("checkpointing", "retained and maxConsecutiveFailures must not be negative")
	}
	r := v.s.Restart
	switch r.Strategy {
	case "", RestartExponential, RestartFixed, RestartFailureRate, RestartNone:
	default:
		v.p.add("restart.strategy", fmt.Sprintf("unknown strategy %q (use %s, %s, %s or %s)", r.Strategy, RestartExponential, RestartFixed, RestartFailureRate, RestartNone))
	}
	if r.Attempts < 0 || (r.Delay != nil && *r.Delay < 0) || r.MaxDelay < 0 || r.Multiplier < 0 || r.Jitter < 0 || r.Jitter > 1 || r.MaxFailures < 0 || r.Interval < 0 {
		v.p.add("restart", "values must not be negative (and jitter at most 1)")
	}
	for i, vx := range v.s.Vertices {
		et := vx.EventTime
		if et == (EventTime{}) {
			continue
		}
		path := fmt.Sprintf("vertices[%d].eventTime", i)
		if len(v.s.Inputs(vx.ID)) > 0 {
			v.p.add(path, "only sources (vertices without inputs) assign event time")
		}
		if et.Timestamp == "" {
			v.p.add(path+".timestamp", "is required")
		} else if v.checkExpr != nil {
			if err := v.checkExpr(et.Timestamp); err != nil {
				v.p.add(path+".timestamp", err.Error())
			}
		}
		if et.MaxOutOfOrderness < 0 || et.IdleTimeout < 0 {
			v.p.add(path, "durations must not be negative")
		}
	}
}
