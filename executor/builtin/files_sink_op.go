package builtin

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"gocloud.dev/blob"

	"github.com/sluicehq/sluice/executor/operator"
	"github.com/sluicehq/sluice/executor/record"
)

// filesSink is the files sink; FilesSinkConfig documents its staging,
// naming and commits.
type filesSink struct {
	cfg      *FilesSinkConfig
	bucket   *blob.Bucket
	ctx      context.Context
	prefix   string // expanded, "" or ending in '/'
	vertex   string
	subtask  int
	staging  string // "<prefix>_staging/<job>/a<attempt>/<vertex>-<subtask>-<nonce>-"
	ext      string
	seq      int // staged objects opened
	prepared int // staged objects handed to PrepareCommit
	cur      *stagedPart
	row      []string
	buf      []byte
	proj     record.Record
}

// stagedPart is the staged object being written.
type stagedPart struct {
	key    string
	cancel context.CancelFunc // aborts the write
	w      *blob.Writer
	bw     *bufio.Writer
	csv    *csv.Writer
}

// filesSinkBuffer is the write buffer in front of the bucket writer.
const filesSinkBuffer = 256 << 10

var (
	formatExt         = map[string]string{formatJSONL: "jsonl", formatCSV: "csv", formatText: "txt"}
	formatContentType = map[string]string{
		formatJSONL: "application/x-ndjson",
		formatCSV:   "text/csv; charset=utf-8",
		formatText:  "text/plain; charset=utf-8",
	}
)

func newFilesSink(cfg any) (operator.Operator, error) {
	c, err := configAs(FilesSink, cfg, newFilesSinkConfig)
	if err != nil {
		return nil, err
	}
	return &filesSink{cfg: c, ext: formatExt[c.Format]}, nil
}

// expandPrefix replaces {job} and adds the trailing '/'.
func expandPrefix(prefix, job string) string {
	prefix = strings.ReplaceAll(prefix, "{job}", job)
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return prefix
}

// filesStaging is the files sink's staging area for a job:
// <prefix>_staging/<job>/ in its bucket.
func filesStaging(cfg any, job string) operator.StagingArea {
	c := cfg.(*FilesSinkConfig)
	return operator.StagingArea{Bucket: c.Bucket, Prefix: expandPrefix(c.Prefix, job) + "_staging/" + job + "/"}
}

// partName returns the final name of a subtask's part for checkpoint id
// (or operator.FinalCheckpoint).
func partName(prefix, vertex string, subtask int, id int64, ext string) string {
	chk := "final"
	if id != operator.FinalCheckpoint {
		chk = fmt.Sprintf("%06d", id)
	}
	return fmt.Sprintf("%spart-%s-%05d-%s.%s", prefix, vertex, subtask, chk, ext)
}

func (s *filesSink) Open(ctx context.Context, oc operator.Context, _ operator.Emitter) error {
	b, err := oc.Bucket(ctx, s.cfg.Bucket)
	if err != nil {
		return fmt.Errorf("files sink: open %s: %w", bucketName(s.cfg.Bucket), err)
	}
	var nonce [6]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return fmt.Errorf("files sink: attempt nonce: %w", err)
	}
	s.bucket, s.ctx = b, ctx
	s.prefix = expandPrefix(s.cfg.Prefix, oc.Job())
	s.vertex, s.subtask = oc.Vertex(), oc.Subtask()
	area := filesStaging(s.cfg, oc.Job())
	s.staging = fmt.Sprintf("%s%s-%05d-%s-", area.AttemptDir(oc.Attempt()), s.vertex, s.subtask, hex.EncodeToString(nonce[:]))
	if s.cfg.Format == formatCSV {
		s.row = make([]string, len(s.cfg.Fields))
	}
	return nil
}

// stage opens a new staged object and writes the CSV header.
func (s *filesSink) stage() error {
	s.seq++
	key := s.staging + strconv.Itoa(s.seq) + "." + s.ext
	wctx, cancel := context.WithCancel(s.ctx)
	w, err := s.bucket.NewWriter(wctx, key, &blob.WriterOptions{ContentType: formatContentType[s.cfg.Format]})
	if err != nil {
		cancel()
		return fmt.Errorf("files sink: create %s in %s: %w", key, bucketName(s.cfg.Bucket), err)
	}
	p := &stagedPart{key: key, cancel: cancel, w: w, bw: bufio.NewWriterSize(w, filesSinkBuffer)}
	s.cur = p
	if s.cfg.Format == formatCSV {
		p.csv = csv.NewWriter(p.bw)
		if s.cfg.Header {
			if err := p.csv.Write(s.cfg.Fields); err != nil {
				return s.writeError(err)
			}
		}
	}
	return nil
}

func (s *filesSink) writeError(err error) error {
	return fmt.Errorf("files sink: write %s in %s: %w", s.cur.key, bucketName(s.cfg.Bucket), err)
}

func (s *filesSink) Process(r *record.Record) error {
	if s.cur == nil {
		if err := s.stage(); err != nil {
			return err
		}
	}
	var err error
	switch s.cfg.Format {
	case formatJSONL:
		if len(s.cfg.Fields) > 0 {
			s.proj.Fields = s.proj.Fields[:0]
			for _, f := range s.cfg.Fields {
				v, _ := r.Get(f)
				s.proj.Fields = append(s.proj.Fields, record.Field{Name: f, Value: v})
			}
			r = &s.proj
		}
		s.buf = r.AppendJSON(s.buf[:0])
		s.buf = append(s.buf, '\n')
		_, err = s.cur.bw.Write(s.buf)
	case formatCSV:
		for i, f := range s.cfg.Fields {
			v, _ := r.Get(f)
			s.row[i] = string(appendText(s.buf[:0], v))
		}
		err = s.cur.csv.Write(s.row)
	case formatText:
		s.buf = s.buf[:0]
		if len(s.cfg.Fields) > 0 {
			for i, f := range s.cfg.Fields {
				if i > 0 {
					s.buf = append(s.buf, '\t')
				}
				v, _ := r.Get(f)
				s.buf = appendText(s.buf, v)
			}
		} else {
			for i := range r.Fields {
				if i > 0 {
					s.buf = append(s.buf, '\t')
				}
				s.buf = appendText(s.buf, r.Fields[i].Value)
			}
		}
		s.buf = append(s.buf, '\n')
		_, err = s.cur.bw.Write(s.buf)
	}
	if err != nil {
		return s.writeError(err)
	}
	return nil
}

// appendText renders a value as a text or csv cell: strings bare, null empty,
// lists as JSON.
func appendText(dst []byte, v record.Value) []byte {
	switch v.Kind() {
	case record.Null:
		return dst
	case record.String:
		return append(dst, v.Str()...)
	case record.Int:
		return strconv.AppendInt(dst, v.Int(), 10)
	case record.List:
		return v.AppendJSON(dst)
	}
	return append(dst, v.String()...)
}

// PrepareCommit implements operator.Committer: it uploads the staged
// object, if there is one, and returns it with its final name for
// checkpoint id (see filesSink).
func (s *filesSink) PrepareCommit(id int64) ([]operator.Commitable, error) {
	if s.cur == nil {
		if id != operator.FinalCheckpoint || s.prepared > 0 {
			return nil, nil
		}
		if err := s.stage(); err != nil { // the empty part of a subtask without output
			return nil, err
		}
	}
	p := s.cur
	if p.csv != nil {
		p.csv.Flush()
		if err := p.csv.Error(); err != nil {
			return nil, s.writeError(err)
		}
	}
	if err := p.bw.Flush(); err != nil {
		return nil, s.writeError(err)
	}
	s.cur = nil
	err := p.w.Close()
	p.cancel()
	if err != nil {
		return nil, fmt.Errorf("files sink: upload %s in %s: %w", p.key, bucketName(s.cfg.Bucket), err)
	}
	s.prepared++
	return []operator.Commitable{{
		Bucket: s.cfg.Bucket,
		Staged: p.key,
		Final:  partName(s.prefix, s.vertex, s.subtask, id, s.ext),
	}}, nil
}

// EndInput does nothing: the runtime calls PrepareCommit(FinalCheckpoint)
// next.
func (s *filesSink) EndInput() error { return nil }

// Close aborts the staged write, if any, so that a failed or cancelled
// subtask leaves no partial object.
func (s *filesSink) Close() error {
	if p := s.cur; p != nil {
		s.cur = nil
		p.cancel()
		_ = p.w.Close() // fails with the cancellation: the write is aborted
	}
	return nil
}
