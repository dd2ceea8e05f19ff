package builtin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/sluicehq/sluice/executor/operator"
	"github.com/sluicehq/sluice/executor/record"
)

// DatagenConfig configures datagen, which generates the records
// {id: int, key: "key-<id % keys>", value: int in [0, 1000)}, plus, with
// TimeField, {<timeField>: id * interval in ms}; value is a pseudo-random
// function of seed and id, so output does not depend on how ids are split
// (or on restarts: datagen implements operator.SplitAdvancer).
type DatagenConfig struct {
	// Count is the number of records, ids 0..count-1; 0 means unbounded.
	Count int64 `json:"count"`
	// Keys is the number of distinct keys.
	Keys int64 `json:"keys"`
	// Seed varies the values.
	Seed int64 `json:"seed"`
	// Rate limits each subtask to this many records per second; 0 means
	// unlimited.
	Rate float64 `json:"rate"`
	// Chunk is the number of ids per split of a bounded source.
	Chunk int64 `json:"chunk"`
	// TimeField, if set, adds a field of that name holding a deterministic
	// event time, id * interval milliseconds since the epoch, for the
	// vertex's timestamp expression.
	TimeField string `json:"timeField"`
	// Interval is the event time between consecutive ids, a duration such
	// as "1ms" or "1s".
	Interval string `json:"interval"`
}

// maxDatagenSplits bounds the splits a bounded datagen makes.
const maxDatagenSplits = 1_000_000

// Validate implements operator.Validator.
func (c *DatagenConfig) Validate() error {
	var errs []error
	if c.Count < 0 {
		errs = append(errs, operator.Errorf("count", "must not be negative, not %d", c.Count))
	}
	if c.Keys < 1 {
		errs = append(errs, operator.Errorf("keys", "must be at least 1, not %d", c.Keys))
	}
	if c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) {
		errs = append(errs, operator.Errorf("rate", "must be a non-negative number of records per second, not %v", c.Rate))
	}
	if c.Chunk < 1 {
		errs = append(errs, operator.Errorf("chunk", "must be at least 1, not %d", c.Chunk))
	} else if n := (c.Count + c.Chunk - 1) / c.Chunk; n > maxDatagenSplits {
		errs = append(errs, operator.Errorf("chunk", "count %d in chunks of %d makes %d splits, more than %d: raise chunk",
			c.Count, c.Chunk, n, maxDatagenSplits))
	}
	if _, err := c.intervalMillis(); err != nil {
		errs = append(errs, err)
	}
	switch c.TimeField {
	case "id", "key", "value":
		errs = append(errs, operator.Errorf("timeField", "%q is already a field of datagen's records", c.TimeField))
	}
	return errors.Join(errs...)
}

// intervalMillis parses Interval; "" is 1 ms.
func (c *DatagenConfig) intervalMillis() (int64, error) {
	if c.Interval == "" {
		return 1, nil
	}
	ms, err := parseMillis(c.Interval)
	if err == nil && ms < 1 {
		err = fmt.Errorf("must be at least 1ms, not %q", c.Interval)
	}
	if err != nil {
		return 0, operator.Errorf("interval", "%v", err)
	}
	return ms, nil
}

func newDatagenConfig() *DatagenConfig {
	return &DatagenConfig{Keys: 100, Chunk: 100_000, Interval: "1ms"}
}

func datagenDef() operator.Definition {
	return operator.Definition{
		Name: Datagen,
		Kind: operator.KindSource,
		Doc: "Generates deterministic records {id, key, value}: count of them (in splits of chunk ids), " +
			"or, with count 0, an unbounded stream per subtask, optionally at rate records/s per subtask; " +
			"timeField adds an event time, id * interval ms.",
		NewConfig: func() any { return newDatagenConfig() },
		NewSource: newDatagen,
		Splits:    datagenSplits,
	}
}

// datagenSplit is the Data of a datagen split: ids start, start+step, ...
// below end, or for ever when end is -1.
type datagenSplit struct {
	Start int64 `json:"start"`
	End   int64 `json:"end"`
	Step  int64 `json:"step"`
}

const unboundedEnd = -1

func datagenSplits(_ context.Context, env operator.EnumerateEnv, cfg any) ([]operator.Split, error) {
	c, err := configAs(Datagen, cfg, newDatagenConfig)
	if err != nil {
		return nil, err
	}
	var ds []datagenSplit
	if c.Count == 0 {
		p := int64(max(env.Parallelism(), 1))
		for i := range p {
			ds = append(ds, datagenSplit{Start: i, End: unboundedEnd, Step: p})
		}
	} else {
		for s := int64(0); s < c.Count; s += c.Chunk {
			ds = append(ds, datagenSplit{Start: s, End: min(s+c.Chunk, c.Count), Step: 1})
		}
	}
	splits := make([]operator.Split, len(ds))
	for i, d := range ds {
		data, err := json.Marshal(d)
		if err != nil {
			return nil, fmt.Errorf("datagen: %w", err)
		}
		id := fmt.Sprintf("ids-%d-%d", d.Start, d.End)
		if d.End == unboundedEnd {
			id = fmt.Sprintf("ids-%d-every-%d", d.Start, d.Step)
		}
		splits[i] = operator.Split{ID: id, Data: data}
	}
	return splits, nil
}

type datagenSource struct {
	cfg      *DatagenConfig
	interval int64 // ms of event time per id
	pacer    *pacer
	keys     []string // "key-<i>" for small i, built on first use
	rec      record.Record
}

// datagenKeyCache is how many key strings datagen keeps.
const datagenKeyCache = 1 << 16

func newDatagen(cfg any) (operator.Source, error) {
	c, err := configAs(Datagen, cfg, newDatagenConfig)
	if err != nil {
		return nil, err
	}
	s := &datagenSource{cfg: c}
	if s.interval, err = c.intervalMillis(); err != nil {
		return nil, fmt.Errorf("datagen: %w", err)
	}
	if c.Rate > 0 {
		s.pacer = newPacer(c.Rate)
	}
	return s, nil
}

func (s *datagenSource) Open(context.Context, operator.Context) error { return nil }

// parseDatagenSplit decodes and checks a split's data.
func parseDatagenSplit(sp operator.Split) (datagenSplit, error) {
	var d datagenSplit
	if err := json.Unmarshal(sp.Data, &d); err != nil {
		return d, fmt.Errorf("datagen: split %s: %w", sp.ID, err)
	}
	if d.Step < 1 || d.Start < 0 || (d.End != unboundedEnd && d.End < d.Start) {
		return d, fmt.Errorf("datagen: split %s: bad range %+v", sp.ID, d)
	}
	return d, nil
}

// Advance implements operator.SplitAdvancer: the split's ids after its
// first n, under the same split ID.
func (s *datagenSource) Advance(sp operator.Split, n int64) (operator.Split, error) {
	d, err := parseDatagenSplit(sp)
	if err != nil {
		return sp, err
	}
	if n < 0 {
		return sp, fmt.Errorf("datagen: advance split %s by %d records", sp.ID, n)
	}
	switch {
	case n > (math.MaxInt64-d.Start)/d.Step:
		d.Start = math.MaxInt64
	default:
		d.Start += n * d.Step
	}
	if d.End != unboundedEnd && d.Start > d.End {
		d.Start = d.End
	}
	if d.End == unboundedEnd && d.Start == math.MaxInt64 {
		return sp, fmt.Errorf("datagen: advance split %s by %d records: ids overflow", sp.ID, n)
	}
	data, err := json.Marshal(d)
	if err != nil {
		return sp, fmt.Errorf("datagen: %w", err)
	}
	return operator.Split{ID: sp.ID, Data: data}, nil
}

func (s *datagenSource) ReadSplit(ctx context.Context, sp operator.Split, out operator.Emitter) error {
	d, err := parseDatagenSplit(sp)
	if err != nil {
		return err
	}
	done := ctx.Done()
	for id := d.Start; d.End == unboundedEnd || id < d.End; id += d.Step {
		select {
		case <-done:
			return ctx.Err()
		default:
		}
		if s.pacer != nil {
			if err := s.pacer.wait(ctx); err != nil {
				return err
			}
		}
		s.rec.Fields = append(s.rec.Fields[:0],
			record.Field{Name: "id", Value: record.IntV(id)},
			record.Field{Name: "key", Value: record.Str(s.key(id % s.cfg.Keys))},
			record.Field{Name: "value", Value: record.IntV(datagenValue(s.cfg.Seed, id))})
		if s.cfg.TimeField != "" {
			s.rec.Fields = append(s.rec.Fields, record.Field{Name: s.cfg.TimeField, Value: record.IntV(eventTime(id, s.interval))})
		}
		if err := out.Emit(&s.rec); err != nil {
			return err
		}
		if id > math.MaxInt64-d.Step {
			break
		}
	}
	return nil
}

func (s *datagenSource) key(i int64) string {
	if i >= datagenKeyCache {
		return "key-" + strconv.FormatInt(i, 10)
	}
	if s.keys == nil {
		s.keys = make([]string, min(s.cfg.Keys, datagenKeyCache))
	}
	if s.keys[i] == "" {
		s.keys[i] = "key-" + strconv.FormatInt(i, 10)
	}
	return s.keys[i]
}

func (s *datagenSource) Close() error { return nil }

// eventTime is id * interval, saturated at math.MaxInt64.
func eventTime(id, interval int64) int64 {
	if id > math.MaxInt64/interval {
		return math.MaxInt64
	}
	return id * interval
}

// datagenValue is the value of record id: splitmix64 of seed and id, in
// [0, 1000).
func datagenValue(seed, id int64) int64 {
	return int64(splitmix64(uint64(seed)*0x9E3779B97F4A7C15+uint64(id)) % 1000)
}

func splitmix64(x uint64) uint64 {
	z := x + 0x9E3779B97F4A7C15
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}
