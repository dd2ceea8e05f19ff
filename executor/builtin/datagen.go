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
// {id: int, key: "key-<id % keys>", value: int in [0, 1000)}; value is a
// pseudo-random function of seed and id, so output does not depend on how
// ids are split.
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
	return errors.Join(errs...)
}

func newDatagenConfig() *DatagenConfig { return &DatagenConfig{Keys: 100, Chunk: 100_000} }

func datagenDef() operator.Definition {
	return operator.Definition{
		Name: Datagen,
		Kind: operator.KindSource,
		Doc: "Generates deterministic records {id, key, value}: count of them (in splits of chunk ids), " +
			"or, with count 0, an unbounded stream per subtask, optionally at rate records/s per subtask.",
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
	cfg   *DatagenConfig
	pacer *pacer
	keys  []string // "key-<i>" for small i, built on first use
	rec   record.Record
}

// datagenKeyCache is how many key strings datagen keeps.
const datagenKeyCache = 1 << 16

func newDatagen(cfg any) (operator.Source, error) {
	c, err := configAs(Datagen, cfg, newDatagenConfig)
	if err != nil {
		return nil, err
	}
	s := &datagenSource{cfg: c}
	if c.Rate > 0 {
		s.pacer = newPacer(c.Rate)
	}
	return s, nil
}

func (s *datagenSource) Open(context.Context, operator.Context) error { return nil }

func (s *datagenSource) ReadSplit(ctx context.Context, sp operator.Split, out operator.Emitter) error {
	var d datagenSplit
	if err := json.Unmarshal(sp.Data, &d); err != nil {
		return fmt.Errorf("datagen: split %s: %w", sp.ID, err)
	}
	if d.Step < 1 || d.Start < 0 || (d.End != unboundedEnd && d.End < d.Start) {
		return fmt.Errorf("datagen: split %s: bad range %+v", sp.ID, d)
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
