package builtin

import (
	"context"
	"os"
	"path/filepath"
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
		prefix, format, want string
	}{
		{"out/", "jsonl", "out/part-agg-00003.jsonl"},
		{"out", "csv", "out/part-agg-00003.csv"},
		{"results/{job}/", "text", "results/j-1/part-agg-00003.txt"},
		{"{job}", "jsonl", "j-1/part-agg-00003.jsonl"},
		{"", "jsonl", "part-agg-00003.jsonl"},
	}
	for _, tc := range tests {
		if got := partName(tc.prefix, "j-1", "agg", 3, tc.format); got != tc.want {
			t.Errorf("partName(%q, %s) = %q, want %q", tc.prefix, tc.format, got, tc.want)
		}
	}
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
		{"jsonl", `{"prefix":"out/{job}"}`, "out/job-7/part-sink-00002.jsonl",
			`{"word":"hello","count":3,"ratio":0.5,"ok":true}` + "\n" +
				`{"word":"a, \"quoted\"\nline","count":-1,"tags":["x",1],"none":null}` + "\n" +
				`{"count":7}` + "\n"},
		{"jsonl fields", `{"prefix":"out","fields":["count","word"]}`, "out/part-sink-00002.jsonl",
			`{"count":3,"word":"hello"}` + "\n" + `{"count":-1,"word":"a, \"quoted\"\nline"}` + "\n" + `{"count":7,"word":null}` + "\n"},
		{"csv", `{"prefix":"out/","format":"csv","fields":["word","count","tags","none","ratio"],"header":true}`, "out/part-sink-00002.csv",
			"word,count,tags,none,ratio\n" +
				"hello,3,,,0.5\n" +
				"\"a, \"\"quoted\"\"\nline\",-1,\"[\"\"x\"\",1]\",,\n" +
				",7,,,\n"},
		{"csv no header", `{"prefix":"out/","format":"csv","fields":["count"]}`, "out/part-sink-00002.csv",
			"3\n-1\n7\n"},
		{"text one field", `{"prefix":"out/","format":"text","fields":["word"]}`, "out/part-sink-00002.txt",
			"hello\na, \"quoted\"\nline\n\n"},
		{"text fields", `{"prefix":"out/","format":"text","fields":["count","ok"]}`, "out/part-sink-00002.txt",
			"3\ttrue\n-1\t\n7\t\n"},
		{"text all fields", `{"prefix":"out/","format":"text"}`, "out/part-sink-00002.txt",
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
	got, err := b.ReadAll(t.Context(), "o/part-v-00000.csv")
	if err != nil || string(got) != "a,b\n" {
		t.Fatalf("got %q, %v", got, err)
	}
}

// TestFilesSinkCommitsOnlyAtEndInput checks that the object appears at
// EndInput, and that Close without EndInput (a failed or cancelled subtask)
// leaves nothing, with memblob and with fileblob.
func TestFilesSinkCommitsOnlyAtEndInput(t *testing.T) {
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
				op := operatortest.NewOperator(t, def(t, "files:sink"), `{"prefix":"res"}`)
				if err := op.Open(t.Context(), oc, operator.EmitterFunc(func(*record.Record) error { return nil })); err != nil {
					t.Fatal(err)
				}
				// more than the buffer, so that some bytes reach the bucket writer
				big := &record.Record{Fields: []record.Field{{Name: "s", Value: record.Str(strings.Repeat("x", 100_000))}}}
				for range 5 {
					if err := op.Process(big); err != nil {
						t.Fatal(err)
					}
				}
				const key = "res/part-v-00000.jsonl"
				if ok, _ := b.Exists(t.Context(), key); ok {
					t.Fatal("object visible before EndInput")
				}
				if commit {
					if err := op.EndInput(); err != nil {
						t.Fatal(err)
					}
				}
				if err := op.Close(); err != nil {
					t.Fatal(err)
				}
				ok, err := b.Exists(t.Context(), key)
				if err != nil {
					t.Fatal(err)
				}
				if ok != commit {
					t.Fatalf("committed %v: object exists %v", commit, ok)
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
