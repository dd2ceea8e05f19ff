package builtin

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"

	"github.com/sluicehq/sluice/executor/operator"
	"github.com/sluicehq/sluice/executor/operator/operatortest"
	"github.com/sluicehq/sluice/executor/record"
)

func TestPartName(t *testing.T) {
	tests := []struct {
		prefix, job string
		id          int64
		want        string
	}{
		{"out/", "j-1", 3, "out/part-agg-00003-000003.jsonl"},
		{"out", "j-1", 1234567, "out/part-agg-00003-1234567.jsonl"},
		{"results/{job}/", "j-1", operator.FinalCheckpoint, "results/j-1/part-agg-00003-final.jsonl"},
		{"{job}", "j-1", 0, "j-1/part-agg-00003-000000.jsonl"},
		{"", "j-1", 7, "part-agg-00003-000007.jsonl"},
	}
	for _, tc := range tests {
		if got := partName(expandPrefix(tc.prefix, tc.job), "agg", 3, tc.id, "jsonl"); got != tc.want {
			t.Errorf("partName(%q, %d) = %q, want %q", tc.prefix, tc.id, got, tc.want)
		}
	}
}

// listAll returns every object key in b, sorted.
func listAll(t testing.TB, b *blob.Bucket) []string {
	t.Helper()
	var keys []string
	it := b.List(nil)
	for {
		obj, err := it.Next(context.Background())
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, obj.Key)
	}
	slices.Sort(keys)
	return keys
}

func TestFilesSink(t *testing.T) {
	in := []string{
		`{"word":"hello","count":3,"ratio":0.5,"ok":true}`,
		`{"word":"a, \"quoted\"\nline","count":-1,"tags":["x",1],"none":null}`,
		`{"count":7}`,
	}
	tests := []struct {
		name, cfg, key, want string
	}{
		{"jsonl", `{"prefix":"out/{job}"}`, "out/job-7/part-sink-00002-final.jsonl",
			`{"word":"hello","count":3,"ratio":0.5,"ok":true}` + "\n" +
				`{"word":"a, \"quoted\"\nline","count":-1,"tags":["x",1],"none":null}` + "\n" +
				`{"count":7}` + "\n"},
		{"jsonl fields", `{"prefix":"out","fields":["count","word"]}`, "out/part-sink-00002-final.jsonl",
			`{"count":3,"word":"hello"}` + "\n" + `{"count":-1,"word":"a, \"quoted\"\nline"}` + "\n" + `{"count":7,"word":null}` + "\n"},
		{"csv", `{"prefix":"out/","format":"csv","fields":["word","count","tags","none","ratio"],"header":true}`, "out/part-sink-00002-final.csv",
			"word,count,tags,none,ratio\n" +
				"hello,3,,,0.5\n" +
				"\"a, \"\"quoted\"\"\nline\",-1,\"[\"\"x\"\",1]\",,\n" +
				",7,,,\n"},
		{"csv no header", `{"prefix":"out/","format":"csv","fields":["count"]}`, "out/part-sink-00002-final.csv",
			"3\n-1\n7\n"},
		{"text one field", `{"prefix":"out/","format":"text","fields":["word"]}`, "out/part-sink-00002-final.txt",
			"hello\na, \"quoted\"\nline\n\n"},
		{"text fields", `{"prefix":"out/","format":"text","fields":["count","ok"]}`, "out/part-sink-00002-final.txt",
			"3\ttrue\n-1\t\n7\t\n"},
		{"text all fields", `{"prefix":"out/","format":"text"}`, "out/part-sink-00002-final.txt",
			"hello\t3\t0.5\ttrue\na, \"quoted\"\nline\t-1\t[\"x\",1]\t\n7\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			oc, b := memContext(t)
			oc.JobID, oc.VertexID, oc.SubtaskID = "job-7", "sink", 2
			out, err := runOp(t, "files:sink", tc.cfg, oc, in...)
			if err != nil {
				t.Fatal(err)
			}
			if out != "" {
				t.Fatalf("a sink emitted %s", out)
			}
			// the committed part, and nothing left in staging
			if keys := listAll(t, b); !slices.Equal(keys, []string{tc.key}) {
				t.Fatalf("objects %q, want only %q", keys, tc.key)
			}
			got, err := b.ReadAll(t.Context(), tc.key)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestFilesSinkEmptyInput(t *testing.T) {
	oc, b := memContext(t)
	if _, err := runOp(t, "files:sink", `{"prefix":"o","format":"csv","fields":["a","b"],"header":true}`, oc); err != nil {
		t.Fatal(err)
	}
	got, err := b.ReadAll(t.Context(), "o/part-v-00000-final.csv")
	if err != nil || string(got) != "a,b\n" {
		t.Fatalf("got %q, %v", got, err)
	}
}

// sinkRun drives a files sink by hand, as the runtime does across
// checkpoints.
type sinkRun struct {
	t  *testing.T
	oc *operatortest.Context
	op operator.Operator
}

func openSink(t *testing.T, oc *operatortest.Context, cfg string) *sinkRun {
	op := operatortest.NewOperator(t, def(t, "files:sink"), cfg)
	if err := op.Open(t.Context(), oc, operator.EmitterFunc(func(*record.Record) error { return nil })); err != nil {
		t.Fatal(err)
	}
	return &sinkRun{t, oc, op}
}

func (s *sinkRun) process(objects ...string) {
	for _, r := range operatortest.Records(objects...) {
		if err := s.op.Process(r); err != nil {
			s.t.Fatal(err)
		}
	}
}

func (s *sinkRun) prepare(id int64) []operator.Commitable {
	cs, err := s.op.(operator.Committer).PrepareCommit(id)
	if err != nil {
		s.t.Fatal(err)
	}
	return cs
}

func (s *sinkRun) commit(cs []operator.Commitable) {
	if err := operatortest.Commit(s.t.Context(), s.oc, cs); err != nil {
		s.t.Fatal(err)
	}
}

func (s *sinkRun) read(key string) string {
	b, _ := s.oc.Bucket(s.t.Context(), "")
	got, err := b.ReadAll(s.t.Context(), key)
	if err != nil {
		s.t.Fatal(err)
	}
	return string(got)
}

// TestFilesSinkCheckpoints checks that each checkpoint interval with
// records stages one part, visible only once committed, each with its own
// CSV header.
func TestFilesSinkCheckpoints(t *testing.T) {
	oc, b := memContext(t)
	oc.JobID, oc.VertexID, oc.SubtaskID, oc.AttemptNo = "j", "out", 1, 3
	s := openSink(t, oc, `{"prefix":"res/{job}/","format":"csv","fields":["w"],"header":true}`)
	s.process(`{"w":"a"}`, `{"w":"b"}`)
	c1 := s.prepare(1)
	if len(c1) != 1 || c1[0].Final != "res/j/part-out-00001-000001.csv" || !strings.HasPrefix(c1[0].Staged, "res/j/_staging/j/a3/out-00001-") || c1[0].Bucket != "" {
		t.Fatalf("checkpoint 1: %+v", c1)
	}
	if got := s.prepare(2); len(got) != 0 {
		t.Fatalf("checkpoint 2 without records: %+v", got)
	}
	s.process(`{"w":"c"}`)
	c3 := s.prepare(3)
	if len(c3) != 1 || c3[0].Final != "res/j/part-out-00001-000003.csv" || c3[0].Staged == c1[0].Staged {
		t.Fatalf("checkpoint 3: %+v", c3)
	}
	// staged objects are hidden under the prefix until committed
	for _, k := range listAll(t, b) {
		if !hiddenObject("res/j/", k) {
			t.Fatalf("%s visible before the commit", k)
		}
	}
	s.commit(c1)
	s.commit(c1) // again: harmless
	if got := s.read("res/j/part-out-00001-000001.csv"); got != "w\na\nb\n" {
		t.Fatalf("part 1: %q", got)
	}
	if err := s.op.EndInput(); err != nil {
		t.Fatal(err)
	}
	if got := s.prepare(operator.FinalCheckpoint); len(got) != 0 {
		t.Fatalf("final without records after earlier parts: %+v", got)
	}
	s.commit(c3)
	if got := s.read("res/j/part-out-00001-000003.csv"); got != "w\nc\n" {
		t.Fatalf("part 3: %q", got)
	}
	if err := s.op.Close(); err != nil {
		t.Fatal(err)
	}
	if keys := listAll(t, b); !slices.Equal(keys, []string{"res/j/part-out-00001-000001.csv", "res/j/part-out-00001-000003.csv"}) {
		t.Fatalf("objects %q", keys)
	}
}

// TestFilesSinkStagingArea checks that the sink stages where its
// definition says, in its attempt's directory: the coordinator deletes
// staged objects that will never be committed by that layout.
func TestFilesSinkStagingArea(t *testing.T) {
	d := def(t, "files:sink")
	for _, tc := range []struct {
		cfg, job string
		attempt  int
		want     operator.StagingArea
	}{
		{`{"prefix":"res/{job}/"}`, "j1", 2, operator.StagingArea{Prefix: "res/j1/_staging/j1/"}},
		{`{"prefix":"out","bucket":"mem://x"}`, "j2", 1, operator.StagingArea{Bucket: "mem://x", Prefix: "out/_staging/j2/"}},
	} {
		cfg, errs := d.DecodeConfig([]byte(tc.cfg))
		if len(errs) > 0 {
			t.Fatal(errs[0])
		}
		area := d.Staging(cfg, tc.job)
		if area != tc.want {
			t.Errorf("%s: staging area %+v, want %+v", tc.cfg, area, tc.want)
		}
		oc, _ := memContext(t)
		oc.JobID, oc.VertexID, oc.AttemptNo = tc.job, "out", tc.attempt
		s := openSink(t, oc, tc.cfg)
		s.process(`{"w":"a"}`)
		cs := s.prepare(1)
		if len(cs) != 1 || !strings.HasPrefix(cs[0].Staged, area.AttemptDir(tc.attempt)) {
			t.Fatalf("%s: staged %+v, not under %s", tc.cfg, cs, area.AttemptDir(tc.attempt))
		}
		if got, ok := area.Attempt(cs[0].Staged); !ok || got != tc.attempt {
			t.Errorf("%s: attempt of %s = %d, %v; want %d", tc.cfg, cs[0].Staged, got, ok, tc.attempt)
		}
	}
}

// TestFilesSinkExactlyOnce fails a subtask after a checkpoint that did not
// complete and replays from the one before: every record is committed
// exactly once, and a commit retried after the restart changes nothing.
func TestFilesSinkExactlyOnce(t *testing.T) {
	oc, b := memContext(t)
	cfg := `{"prefix":"o/","format":"text","fields":["n"]}`
	a := openSink(t, oc, cfg)
	a.process(`{"n":1}`, `{"n":2}`)
	c1 := a.prepare(1)
	a.commit(c1) // checkpoint 1 completes
	a.process(`{"n":3}`)
	c2 := a.prepare(2) // checkpoint 2 never completes
	a.process(`{"n":4}`)
	if err := a.op.Close(); err != nil { // the failure
		t.Fatal(err)
	}
	// the restarted attempt replays from checkpoint 1; ids go on at 3
	r := openSink(t, oc.Copy(), cfg)
	r.process(`{"n":3}`, `{"n":4}`)
	c3 := r.prepare(3)
	r.commit(c1) // a commit of checkpoint 1 retried by a new leader
	r.commit(c3)
	r.process(`{"n":5}`)
	if err := r.op.EndInput(); err != nil {
		t.Fatal(err)
	}
	cf := r.prepare(operator.FinalCheckpoint)
	r.commit(cf)
	r.commit(cf)
	if err := r.op.Close(); err != nil {
		t.Fatal(err)
	}
	var all string
	var parts []string
	for _, k := range listAll(t, b) {
		if hiddenObject("o/", k) {
			if k != c2[0].Staged {
				t.Errorf("unexpected staged object %s", k)
			}
			continue
		}
		parts = append(parts, k)
		all += r.read(k)
	}
	if want := []string{"o/part-v-00000-000001.txt", "o/part-v-00000-000003.txt", "o/part-v-00000-final.txt"}; !slices.Equal(parts, want) {
		t.Fatalf("parts %q, want %q", parts, want)
	}
	if all != "1\n2\n3\n4\n5\n" {
		t.Fatalf("committed %q", all)
	}
	if strings.HasPrefix(c3[0].Staged, strings.TrimSuffix(c2[0].Staged, "2.txt")) {
		t.Fatalf("the restarted attempt stages under the failed one's names: %s, %s", c2[0].Staged, c3[0].Staged)
	}
	// a different staged object for a final name that exists is not copied
	write(t, b, "o/_staging/other", "dup\n")
	r.commit([]operator.Commitable{{Staged: "o/_staging/other", Final: "o/part-v-00000-000003.txt"}})
	if got := r.read("o/part-v-00000-000003.txt"); got != "3\n4\n" {
		t.Fatalf("a commit overwrote a part: %q", got)
	}
}

// TestFilesSinkCloseAborts checks that a committed part appears in full,
// and that Close without PrepareCommit (a failed or cancelled subtask)
// leaves nothing, with memblob and with fileblob.
func TestFilesSinkCloseAborts(t *testing.T) {
	dir := t.TempDir()
	buckets := map[string]func(t *testing.T) (*operatortest.Context, *blob.Bucket){
		"memblob": func(t *testing.T) (*operatortest.Context, *blob.Bucket) { return memContext(t) },
		"fileblob": func(t *testing.T) (*operatortest.Context, *blob.Bucket) {
			// temporary files in the bucket directory, so that leftovers show
			b, err := fileblob.OpenBucket(dir, &fileblob.Options{NoTempDir: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			oc := operatortest.NewContext(t)
			oc.DefaultBucket = b
			return oc, b
		},
	}
	for name, open := range buckets {
		t.Run(name, func(t *testing.T) {
			for _, commit := range []bool{false, true} {
				oc, b := open(t)
				s := openSink(t, oc, `{"prefix":"res"}`)
				// more than the buffer, so that some bytes reach the bucket writer
				big := `{"s":"` + strings.Repeat("x", 100_000) + `"}`
				s.process(big, big, big, big, big)
				const key = "res/part-v-00000-final.jsonl"
				if commit {
					if err := s.op.EndInput(); err != nil {
						t.Fatal(err)
					}
					s.commit(s.prepare(operator.FinalCheckpoint))
				}
				if err := s.op.Close(); err != nil {
					t.Fatal(err)
				}
				keys := listAll(t, b)
				if commit != slices.Equal(keys, []string{key}) || (!commit && len(keys) > 0) {
					t.Fatalf("committed %v: objects %q", commit, keys)
				}
				if commit {
					a, err := b.Attributes(t.Context(), key)
					if err != nil || a.Size != 5*100_009 || a.ContentType != "application/x-ndjson" {
						t.Fatalf("attributes %+v, %v", a, err)
					}
					if err := b.Delete(t.Context(), key); err != nil {
						t.Fatal(err)
					}
				}
			}
			if name == "fileblob" {
				// no temporary files left behind in the bucket
				err := filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
					if err == nil && !info.IsDir() {
						t.Errorf("left %s", path)
					}
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestFilesSinkBucketError(t *testing.T) {
	oc := operatortest.NewContext(t)
	oc.OpenBucket = func(context.Context, string) (*blob.Bucket, error) { return nil, os.ErrPermission }
	_, err := runOp(t, "files:sink", `{"prefix":"o","bucket":"s3://nope"}`, oc, `{"a":1}`)
	if err == nil || !strings.Contains(err.Error(), `open: files sink: open bucket "s3://nope": permission denied`) {
		t.Fatalf("err = %v", err)
	}
}
