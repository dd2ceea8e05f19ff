package operatortest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"gocloud.dev/blob"
	_ "gocloud.dev/blob/memblob"

	"github.com/sluicehq/sluice/executor/operator"
	"github.com/sluicehq/sluice/executor/record"
)

func TestContextDefaults(t *testing.T) {
	c := NewContext(t)
	if c.Job() != "job" || c.Vertex() != "v" || c.Subtask() != 0 || c.Parallelism() != 1 || c.KeyName() != "key" || c.Combined() {
		t.Fatalf("defaults: %s %s %d %d %s %v", c.Job(), c.Vertex(), c.Subtask(), c.Parallelism(), c.KeyName(), c.Combined())
	}
	if _, err := c.Key(&record.Record{}); err == nil {
		t.Fatal("Key on a non-keyed context: no error")
	}
	c.Keyed("user")
	if c.KeyName() != "user" {
		t.Fatalf("key name %q", c.KeyName())
	}
	k, err := c.Key(Records(`{"user":"ann"}`)[0])
	if err != nil || k.String() != "ann" {
		t.Fatalf("key %v, %v", k, err)
	}
	if _, err := c.Key(Records(`{"u":"ann"}`)[0]); err == nil || !strings.Contains(err.Error(), `no key field "user"`) {
		t.Fatalf("missing key: %v", err)
	}
	c.KeyNameField = "k"
	if c.KeyName() != "k" {
		t.Fatalf("key name %q", c.KeyName())
	}
	c.Log.Info().Msg("the zero logger discards") // must not panic
}

func TestContextBuckets(t *testing.T) {
	c := NewContext(t)
	ctx := t.Context()
	def1, err := c.Bucket(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	def2, _ := c.Bucket(ctx, "")
	if def1 != def2 {
		t.Fatal("the default bucket is not reused")
	}
	m1, err := c.Bucket(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	m2, _ := c.Copy().Bucket(ctx, "mem://")
	if m1 != m2 || m1 == def1 {
		t.Fatal("a URL's bucket is not shared by copies")
	}
	if _, err := c.Bucket(ctx, "nosuch://x"); err == nil {
		t.Fatal("unknown scheme: no error")
	}
	c.OpenBucket = func(context.Context, string) (*blob.Bucket, error) { return nil, errors.New("denied") }
	if _, err := c.Bucket(ctx, "s3://x"); err == nil || err.Error() != "denied" {
		t.Fatalf("OpenBucket error: %v", err)
	}
}

func TestStdout(t *testing.T) {
	c := NewContext(t)
	cp := c.Copy()
	fmt.Fprint(c.Stdout(), "a\n")
	fmt.Fprint(cp.Stdout(), "b\n")
	if got := c.Output(); got != "a\nb\n" {
		t.Fatalf("output %q", got)
	}
}

func TestParseRecord(t *testing.T) {
	r, err := ParseRecord(`{"z":1,"a":[1.5,"x",null,true],"m":{"n":1}}`)
	if err == nil {
		t.Fatalf("nested object accepted: %s", r)
	}
	r, err = ParseRecord(`{"z":1,"a":[1.5,"x",null,true]}`)
	if err != nil || r.String() != `{"z":1,"a":[1.5,"x",null,true]}` {
		t.Fatalf("%v, %v", r, err)
	}
	for _, bad := range []string{``, `[]`, `{"a":}`, `{"a":1`} {
		if _, err := ParseRecord(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// failing is an operator that fails at a chosen step.
type failing struct {
	failAt string
	closed bool
	out    operator.Emitter
}

func (f *failing) step(s string) error {
	if f.failAt == s {
		return errors.New("boom")
	}
	return nil
}
func (f *failing) Open(_ context.Context, _ operator.Context, out operator.Emitter) error {
	f.out = out
	return f.step("open")
}
func (f *failing) Process(r *record.Record) error {
	if err := f.out.Emit(r); err != nil {
		return err
	}
	return f.step("process")
}
func (f *failing) EndInput() error { return f.step("end") }
func (f *failing) Close() error    { f.closed = true; return f.step("close") }

func TestRunOperatorErrors(t *testing.T) {
	for _, tc := range []struct{ at, want string }{
		{"open", "open: boom"},
		{"process", `process input 0 {"a":1}: boom`},
		{"end", "end input: boom"},
		{"close", "close: boom"},
		{"", ""},
	} {
		f := &failing{failAt: tc.at}
		out, err := RunOperator(t, f, NewContext(t), Records(`{"a":1}`))
		if (err == nil) != (tc.want == "") || (err != nil && err.Error() != tc.want) {
			t.Errorf("fail at %q: err = %v, want %q", tc.at, err, tc.want)
		}
		if !f.closed {
			t.Errorf("fail at %q: not closed", tc.at)
		}
		if tc.at != "open" && len(out) != 1 {
			t.Errorf("fail at %q: output %v", tc.at, out)
		}
	}
}

// counter is an unbounded source of {n: i}.
type counter struct{}

func (counter) Open(context.Context, operator.Context) error { return nil }
func (counter) Close() error                                 { return nil }
func (counter) ReadSplit(ctx context.Context, _ operator.Split, out operator.Emitter) error {
	for i := 0; ; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := out.Emit(&record.Record{Fields: []record.Field{{Name: "n", Value: record.IntV(int64(i))}}}); err != nil {
			return err
		}
	}
}

func TestReadN(t *testing.T) {
	out := ReadN(t, counter{}, NewContext(t), operator.Split{ID: "s", Data: json.RawMessage(`{}`)}, 5)
	if JSON(out) != "{\"n\":0}\n{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n{\"n\":4}\n" {
		t.Fatalf("got %s", JSON(out))
	}
}

func TestReadAllSplits(t *testing.T) {
	def := operator.Definition{
		Name: "two",
		Kind: operator.KindSource,
		Splits: func(context.Context, operator.EnumerateEnv, any) ([]operator.Split, error) {
			return []operator.Split{{ID: "a", Data: json.RawMessage(`1`)}, {ID: "b", Data: json.RawMessage(`2`)}}, nil
		},
		NewSource: func(any) (operator.Source, error) { return splitEcho{}, nil },
	}
	out := ReadAllSplits(t, def, nil, NewContext(t))
	if JSON(out) != "{\"split\":\"a\"}\n{\"split\":\"b\"}\n" {
		t.Fatalf("got %s", JSON(out))
	}
}

type splitEcho struct{}

func (splitEcho) Open(context.Context, operator.Context) error { return nil }
func (splitEcho) Close() error                                 { return nil }
func (splitEcho) ReadSplit(_ context.Context, s operator.Split, out operator.Emitter) error {
	return out.Emit(&record.Record{Fields: []record.Field{{Name: "split", Value: record.Str(s.ID)}}})
}
