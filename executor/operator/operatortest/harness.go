package operatortest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/executor/operator"
	"github.com/sluicehq/sluice/executor/record"
)

// Collector is an operator.Emitter that keeps a clone of every record, as a
// runtime's downstream would. It is safe for concurrent use.
type Collector struct {
	mu      sync.Mutex
	records []*record.Record
}

// Emit implements operator.Emitter.
func (c *Collector) Emit(r *record.Record) error {
	cl := r.Clone()
	c.mu.Lock()
	c.records = append(c.records, cl)
	c.mu.Unlock()
	return nil
}

// Records returns the records collected so far.
func (c *Collector) Records() []*record.Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*record.Record(nil), c.records...)
}

// Records builds records from JSON objects, one per argument, keeping the
// fields in the order written; whole numbers become Int. It panics on bad
// JSON, which is a bug in the test.
func Records(objects ...string) []*record.Record {
	out := make([]*record.Record, len(objects))
	for i, o := range objects {
		r, err := ParseRecord(o)
		if err != nil {
			panic(fmt.Sprintf("operatortest.Records: %q: %v", o, err))
		}
		out[i] = r
	}
	return out
}

// ParseRecord parses one JSON object into a record, keeping field order.
func ParseRecord(object string) (*record.Record, error) {
	d := json.NewDecoder(strings.NewReader(object))
	d.UseNumber()
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object")
	}
	r := &record.Record{}
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		name := tok.(string)
		var v record.Value
		if err := d.Decode(&v); err != nil {
			return nil, fmt.Errorf("field %q: %w", name, err)
		}
		r.Set(name, v)
	}
	if _, err := d.Token(); err != nil {
		return nil, err
	}
	return r, nil
}

// JSON renders records one JSON object per line, for readable assertions.
func JSON(rs []*record.Record) string {
	var b []byte
	for _, r := range rs {
		b = r.AppendJSON(b)
		b = append(b, '\n')
	}
	return string(b)
}

// DecodeConfig decodes a JSON config for def as the runtime does and fails
// the test if it does not decode.
func DecodeConfig(t testing.TB, def operator.Definition, raw string) any {
	helper(t)
	cfg, errs := def.DecodeConfig(json.RawMessage(raw))
	if len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.Error()
		}
		fail(t, "config %s of %q: %s", raw, def.Name, strings.Join(msgs, "; "))
	}
	return cfg
}

// ConfigErrors decodes a JSON config that should be rejected and returns the
// problems, one "field: message" string each.
func ConfigErrors(def operator.Definition, raw string) []string {
	_, errs := def.DecodeConfig(json.RawMessage(raw))
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i] = e.Error()
	}
	return out
}

// NewOperator decodes raw and builds def's operator, failing the test on error.
func NewOperator(t testing.TB, def operator.Definition, raw string) operator.Operator {
	helper(t)
	op, err := def.NewOperator(DecodeConfig(t, def, raw))
	if err != nil {
		fail(t, "new operator %q: %v", def.Name, err)
	}
	return op
}

// RunOperator drives op as the runtime does for a bounded input: Open,
// Process each input, EndInput, Close. A sink that implements
// operator.Committer gets PrepareCommit(operator.FinalCheckpoint) after
// EndInput, and what it returns is committed (Commit), as when a job
// finishes. It returns clones of the records op emitted (also those
// emitted before a failure) and the first error, which names the step that
// failed. Close runs even after a failure.
func RunOperator(t testing.TB, op operator.Operator, oc operator.Context, inputs []*record.Record) (out []*record.Record, err error) {
	helper(t)
	var col Collector
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	defer func() {
		if cerr := op.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close: %w", cerr)
		}
		out = col.Records()
	}()
	if err := op.Open(ctx, oc, &col); err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	for i, r := range inputs {
		if err := op.Process(r); err != nil {
			return nil, fmt.Errorf("process input %d %s: %w", i, r, err)
		}
	}
	if err := op.EndInput(); err != nil {
		return nil, fmt.Errorf("end input: %w", err)
	}
	if c, ok := op.(operator.Committer); ok {
		cs, err := c.PrepareCommit(operator.FinalCheckpoint)
		if err != nil {
			return nil, fmt.Errorf("prepare commit: %w", err)
		}
		if err := Commit(ctx, oc, cs); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// RunCombined runs def's keyed operator behind its combiner, simulating the
// runtime's pre-shuffle combining: each partition goes through its own
// combiner (def.NewCombiner, with oc), and all the partial results then go to
// one keyed operator whose context reports Combined. It fails the test if def
// has no combiner for cfg.
func RunCombined(t testing.TB, def operator.Definition, cfg any, oc *Context, partitions ...[]*record.Record) ([]*record.Record, error) {
	helper(t)
	if def.NewCombiner == nil {
		fail(t, "operator %q has no combiner", def.Name)
	}
	var partials []*record.Record
	for i, p := range partitions {
		comb, ok := def.NewCombiner(cfg)
		if !ok {
			fail(t, "operator %q: config allows no combiner", def.Name)
		}
		out, err := RunOperator(t, comb, oc.Copy(), p)
		if err != nil {
			return nil, fmt.Errorf("combiner of partition %d: %w", i, err)
		}
		partials = append(partials, out...)
	}
	op, err := def.NewOperator(cfg)
	if err != nil {
		return nil, fmt.Errorf("new operator %q: %w", def.Name, err)
	}
	cc := oc.Copy()
	cc.IsCombined = true
	return RunOperator(t, op, cc, partials)
}

// ReadSplits opens a source with oc, reads each split in order and closes it.
// It returns clones of the records read and the first error.
func ReadSplits(t testing.TB, src operator.Source, oc operator.Context, splits []operator.Split) (out []*record.Record, err error) {
	helper(t)
	var col Collector
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	defer func() {
		if cerr := src.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close: %w", cerr)
		}
		out = col.Records()
	}()
	if err := src.Open(ctx, oc); err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	for _, s := range splits {
		if err := src.ReadSplit(ctx, s, &col); err != nil {
			return nil, fmt.Errorf("read split %s: %w", s.ID, err)
		}
	}
	return nil, nil
}

// ReadAllSplits enumerates def's splits for cfg as the coordinator does (oc
// is also the operator.EnumerateEnv), checks that split ids are unique, and
// reads every split with one source instance. It fails the test on error.
func ReadAllSplits(t testing.TB, def operator.Definition, cfg any, oc operator.Context) []*record.Record {
	helper(t)
	splits, err := def.Splits(testContext(t), oc, cfg)
	if err != nil {
		fail(t, "splits of %q: %v", def.Name, err)
	}
	seen := map[string]bool{}
	for _, s := range splits {
		if seen[s.ID] {
			fail(t, "splits of %q: duplicate split id %q", def.Name, s.ID)
		}
		seen[s.ID] = true
	}
	src, err := def.NewSource(cfg)
	if err != nil {
		fail(t, "new source %q: %v", def.Name, err)
	}
	out, err := ReadSplits(t, src, oc, splits)
	if err != nil {
		fail(t, "read %q: %v", def.Name, err)
	}
	return out
}

// errEnough stops a read once ReadN has its records.
var errEnough = errors.New("operatortest: enough records")

// ReadN reads split s (typically unbounded) until n records arrive, then
// cancels the read and returns them. It fails the test if the read ends
// early with an error or with fewer records.
func ReadN(t testing.TB, src operator.Source, oc operator.Context, s operator.Split, n int) []*record.Record {
	helper(t)
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	if err := src.Open(ctx, oc); err != nil {
		fail(t, "open: %v", err)
	}
	defer func() {
		if err := src.Close(); err != nil {
			fail(t, "close: %v", err)
		}
	}()
	var out []*record.Record
	err := src.ReadSplit(ctx, s, operator.EmitterFunc(func(r *record.Record) error {
		out = append(out, r.Clone())
		if len(out) >= n {
			cancel()
			return errEnough
		}
		return nil
	}))
	if len(out) < n {
		fail(t, "read split %s: %d records, want %d (err %v)", s.ID, len(out), n, err)
	}
	if err != nil && !errors.Is(err, errEnough) && !errors.Is(err, context.Canceled) {
		fail(t, "read split %s: %v", s.ID, err)
	}
	return out
}

func testContext(t testing.TB) context.Context {
	if t == nil {
		return context.Background()
	}
	return t.Context()
}

func helper(t testing.TB) {
	if t != nil {
		t.Helper()
	}
}

func fail(t testing.TB, format string, args ...any) {
	if t == nil {
		panic("operatortest: " + fmt.Sprintf(format, args...))
	}
	t.Helper()
	t.Fatalf(format, args...)
}
