package coordinator

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"gocloud.dev/blob"

	"github.com/sluicehq/sluice/blobstate"
	"github.com/sluicehq/sluice/coordinator/api"
	"github.com/sluicehq/sluice/coordinator/jobspec"
	"github.com/sluicehq/sluice/coordinator/plan"
	"github.com/sluicehq/sluice/coordinator/store"
	"github.com/sluicehq/sluice/executor/operator"
)

// handleSubmit serves POST /v1/jobs. A request with an Idempotency-Key
// (api.HeaderIdempotencyKey) gets the job id derived from the key, so that
// repeating it (a client retrying on another node after the leader died
// mid-request) answers 200 with the job the first request created instead
// of creating a second one; the submit command makes that decision in the
// replicated store, so it holds across leader changes and concurrent
// requests. Once the job is retired the key is answered from its archive.
func (c *Coordinator) handleSubmit(w http.ResponseWriter, r *http.Request) {
	body, ok := c.readBody(w, r)
	if !ok {
		return
	}
	key := r.Header.Get(api.HeaderIdempotencyKey)
	if err := checkIdempotencyKey(key); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	fromSavepoint := r.URL.Query().Get("fromSavepoint")
	var id, reqHash string
	if key != "" {
		id, reqHash = jobIDForKey(key), requestHash(body, fromSavepoint)
		if c.answerRepeated(w, r, id, key, reqHash) {
			return
		}
	}
	format := ""
	if ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil {
		switch {
		case strings.Contains(ct, "yaml"):
			format = "yaml"
		case strings.Contains(ct, "json"):
			format = "json"
		}
	}
	spec, err := jobspec.Parse(body, format)
	if err != nil {
		writeValidation(w, err)
		return
	}
	if id == "" {
		if id, err = newJobID(); err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
	}
	j, err := c.prepare(r.Context(), id, spec)
	if err != nil {
		writeValidation(w, err)
		return
	}
	j.IdempotencyKey, j.RequestHash = key, reqHash
	if fromSavepoint != "" {
		cc, err := c.loadSavepoint(r.Context(), j, fromSavepoint)
		if err != nil {
			writeError(w, http.StatusBadRequest, "fromSavepoint: "+err.Error())
			return
		}
		j.FromSavepoint = cc
	}
	resp, err := c.cfg.Store.Apply(store.Command{Submit: &store.SubmitCmd{Job: j}})
	if err != nil {
		storeError(w, err)
		return
	}
	if res, ok := resp.(*store.SubmitResult); ok && res.Existing {
		c.log.Info().Str("job", res.ID).Msg("repeated submission: answered with the job it created")
		writeJSON(w, http.StatusOK, api.SubmitResponse{ID: res.ID})
		return
	}
	c.log.Info().Str("job", j.ID).Str("name", j.Name).Int("slots", j.Plan.Slots).Bool("idempotencyKey", key != "").Msg("job submitted")
	c.startMaster(j.ID)
	writeJSON(w, http.StatusCreated, api.SubmitResponse{ID: j.ID})
}

// answerRepeated answers a submission whose idempotency key names a job
// that exists: 200 with its id when it is in the store (submitted with the
// same request) or archived (it ended and was retired), 422 when the key
// was used for another request. It reports whether it answered.
func (c *Coordinator) answerRepeated(w http.ResponseWriter, r *http.Request, id, key, reqHash string) bool {
	if j, ok := c.cfg.Store.Job(id); ok {
		switch {
		case j.IdempotencyKey != key:
			// another job has the id: Apply refuses it (ErrJobExists)
			return false
		case j.RequestHash != reqHash:
			writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("%s: job %s was submitted with this key and another spec", store.ErrKeyReused, id))
			return true
		}
		c.log.Info().Str("job", id).Msg("repeated submission: answered with the job it created")
		writeJSON(w, http.StatusOK, api.SubmitResponse{ID: id})
		return true
	}
	// a job that ended and was retired keeps its id: a new job with it
	// would have no archive of its own
	a, err := c.readArchive(r.Context(), id)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "check the job archive for the job of this idempotency key: "+err.Error())
		return true
	}
	if a == nil {
		return false
	}
	c.log.Info().Str("job", id).Str("state", string(a.Job.State)).Msg("repeated submission of a retired job: answered with its id")
	writeJSON(w, http.StatusOK, api.SubmitResponse{ID: id})
	return true
}

// checkIdempotencyKey accepts "" (none) and up to api.MaxIdempotencyKey
// printable ASCII characters.
func checkIdempotencyKey(key string) error {
	if len(key) > api.MaxIdempotencyKey {
		return fmt.Errorf("%s: longer than %d characters", api.HeaderIdempotencyKey, api.MaxIdempotencyKey)
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x21 || key[i] > 0x7e {
			return fmt.Errorf("%s: want printable ASCII characters without spaces", api.HeaderIdempotencyKey)
		}
	}
	return nil
}

// jobIDForKey derives a job id (16 hex digits, like newJobID's) from an
// idempotency key.
func jobIDForKey(key string) string {
	sum := sha256.Sum256([]byte("sluice-submit\x00" + key))
	return hex.EncodeToString(sum[:8])
}

// requestHash identifies a submission's request: its spec and savepoint.
func requestHash(body []byte, fromSavepoint string) string {
	h := sha256.New()
	h.Write(body)
	h.Write([]byte{0})
	h.Write([]byte(fromSavepoint))
	return hex.EncodeToString(h.Sum(nil))
}

func writeValidation(w http.ResponseWriter, err error) {
	var ve *jobspec.ValidationError
	if errors.As(err, &ve) {
		details := make([]string, len(ve.Errors))
		for i, fe := range ve.Errors {
			details[i] = fe.Error()
		}
		writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid job spec: %d problem(s)", len(details)), details...)
		return
	}
	writeError(w, http.StatusBadRequest, "invalid job spec: "+err.Error())
}

// prepare validates a spec and builds the job record: plan, tasks and input
// splits, with the given id. Nothing is started and nothing is stored.
func (c *Coordinator) prepare(ctx context.Context, id string, spec *jobspec.Spec) (*store.Job, error) {
	spec.Normalize()
	if err := spec.Validate(c.cfg.Registry); err != nil {
		return nil, err
	}
	p, err := plan.Build(spec)
	if err != nil {
		return nil, fmt.Errorf("build execution plan: %w", err)
	}
	j := &store.Job{
		ID:          id,
		Name:        spec.Name,
		Bucket:      c.cfg.Bucket,
		Spec:        spec,
		Plan:        p,
		State:       api.JobCreated,
		SubmittedAt: time.Now().UTC(),
		// checkpoints are numbered from 1
		NextCheckpoint: 1,
		Executors:      map[int]*store.Executor{},
		Tasks:          map[string]*store.Task{},
		Splits:         map[string]*store.SplitQueue{},
	}
	for _, st := range p.Subtasks() {
		j.Tasks[store.TaskKey(st)] = &store.Task{Pipeline: st.Pipeline, Index: st.Index, State: api.TaskCreated}
	}
	env := &enumerateEnv{open: c.cfg.OpenBucket, defaultURL: c.cfg.Bucket, log: c.log.With().Str("job", id).Logger()}
	defer env.close()
	var problems []jobspec.FieldError
	for i, v := range spec.Vertices {
		def, _ := c.cfg.Registry.Resolve(v.Operator, len(spec.Inputs(v.ID)) == 0)
		if def.Kind != operator.KindSource {
			continue
		}
		cfg, ferrs := def.DecodeConfig(v.Config)
		if len(ferrs) > 0 { // Validate already reported these
			continue
		}
		env.parallelism = v.Parallelism
		ectx, cancel := context.WithTimeout(ctx, 30*time.Second)
		splits, err := def.Splits(ectx, env, cfg)
		cancel()
		if err != nil {
			path := fmt.Sprintf("vertices[%d].config", i)
			var fe *operator.FieldError
			if errors.As(err, &fe) && fe.Field != "" {
				path += "." + fe.Field
				err = errors.New(fe.Msg)
			}
			problems = append(problems, jobspec.FieldError{Path: path, Msg: err.Error()})
			continue
		}
		q := &store.SplitQueue{Assigned: map[int][]store.PendingSplit{}, Known: map[string]bool{}}
		for _, sp := range splits {
			q.Pending = append(q.Pending, store.PendingSplit{Split: sp})
			q.Known[sp.ID] = true
			q.All = append(q.All, sp)
		}
		if def.Discover != nil && def.Discover(cfg) > 0 {
			q.Continuous = true
		}
		j.Splits[v.ID] = q
	}
	if len(problems) > 0 {
		return nil, &jobspec.ValidationError{Errors: problems}
	}
	return j, nil
}

func newJobID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("make job id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// enumerateEnv gives split enumerators buckets on the coordinator.
type enumerateEnv struct {
	open        BucketOpener
	defaultURL  string
	parallelism int
	log         zerolog.Logger

	mu      sync.Mutex
	buckets map[string]*blob.Bucket
}

func (e *enumerateEnv) Bucket(ctx context.Context, url string) (*blob.Bucket, error) {
	if url == "" {
		url = e.defaultURL
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if b, ok := e.buckets[url]; ok {
		return b, nil
	}
	b, err := e.open(ctx, url)
	if err != nil {
		return nil, err
	}
	if e.buckets == nil {
		e.buckets = map[string]*blob.Bucket{}
	}
	e.buckets[url] = b
	return b, nil
}

func (e *enumerateEnv) Parallelism() int       { return e.parallelism }
func (e *enumerateEnv) Logger() zerolog.Logger { return e.log }

func (e *enumerateEnv) close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, b := range e.buckets {
		_ = b.Close()
	}
}

// loadSavepoint reads and checks a savepoint for a job about to start.
func (c *Coordinator) loadSavepoint(ctx context.Context, j *store.Job, ref string) (*store.CompletedCheckpoint, error) {
	dir, err := savepointDir(j.Bucket, ref)
	if err != nil {
		return nil, err
	}
	st, err := c.storage(ctx, j.Bucket)
	if err != nil {
		return nil, err
	}
	cc, err := st.readCompleted(ctx, dir)
	if err != nil {
		return nil, err
	}
	if cc.MaxParallelism != j.Plan.MaxParallelism {
		return nil, fmt.Errorf("savepoint %s has %d key groups (maxParallelism) but the job has %d; they must match", dir, cc.MaxParallelism, j.Plan.MaxParallelism)
	}
	for v := range cc.Keyed {
		if j.Spec.VertexIndex(v) < 0 {
			return nil, fmt.Errorf("savepoint %s holds state of vertex %q, which the job does not have", dir, v)
		}
	}
	for v := range cc.Sources {
		if _, ok := j.Splits[v]; !ok {
			return nil, fmt.Errorf("savepoint %s holds positions of source %q, which the job does not have", dir, v)
		}
	}
	return cc, nil
}

// savepointDir turns a savepoint reference (as `sluice savepoint` prints
// it) into its directory in the job's bucket.
func savepointDir(bucket, ref string) (string, error) {
	r, err := blobstate.ParseSavepointURL(ref)
	if err != nil {
		return "", err
	}
	if r.Bucket != "" && r.Bucket != bucket {
		return "", fmt.Errorf("savepoint %s is in bucket %s, not in the cluster's bucket %s", ref, r.Bucket, bucket)
	}
	return "savepoints/" + r.ID + "/", nil
}
