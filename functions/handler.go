// Package functions is the Azure Functions custom handler whose HTTP
// triggers submit, list, inspect and cancel jobs on a coordinator group.
//
// The Functions host runs it with enableProxyingHttpRequest (see host.json
// and README.md): each trigger's request arrives unchanged at its original
// path, /api/<route>, on the port in FUNCTIONS_CUSTOMHANDLER_PORT, and the
// handler's HTTP answer goes back to the caller as is. The handler calls the
// coordinator group through coordinator/api.Client with its own token.
package functions

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"gocloud.dev/blob"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/sluicehq/sluice/coordinator/api"
)

// DefaultMaxBody bounds a request body (a job spec); larger bodies get 413.
const DefaultMaxBody = 1 << 20

// Environment variables (app settings) the handler reads.
const (
	EnvPort         = "FUNCTIONS_CUSTOMHANDLER_PORT"
	EnvCoordinators = "SLUICE_COORDINATOR" // comma-separated node URLs, as the other commands take
	EnvToken        = "SLUICE_TOKEN"       // the coordinator group's token (a Key Vault reference in Azure)
	EnvSpecBucket   = "SLUICE_SPEC_BUCKET" // bucket URL of stored specs (specPath); unset: off
)

// Config configures a Handler.
type Config struct {
	// Client calls the coordinator group.
	Client *api.Client
	// MaxBody bounds request bodies; zero means DefaultMaxBody.
	MaxBody int64
	// Specs is the bucket that stored specs are read from (specPath);
	// nil turns stored specs off.
	Specs  *blob.Bucket
	Logger zerolog.Logger
}

// Handler serves the triggers' routes.
type Handler struct {
	client  *api.Client
	specs   *blob.Bucket
	maxBody int64
	log     zerolog.Logger
	mux     *http.ServeMux
}

// New returns the handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Client == nil || len(cfg.Client.URLs()) == 0 {
		return nil, errors.New("functions: no coordinator URL (set " + EnvCoordinators + ")")
	}
	h := &Handler{client: cfg.Client, specs: cfg.Specs, maxBody: cfg.MaxBody, log: cfg.Logger.With().Str("component", "functions").Logger()}
	if h.maxBody <= 0 {
		h.maxBody = DefaultMaxBody
	}
	m := http.NewServeMux()
	// Routes match function.json: route "jobs" (submit: POST, list: GET),
	// "jobs/{id}" (get), "jobs/{id}/cancel" (cancel), all under /api.
	m.HandleFunc("POST /api/jobs", h.submit)
	m.HandleFunc("GET /api/jobs", h.list)
	m.HandleFunc("GET /api/jobs/{id}", h.get)
	m.HandleFunc("POST /api/jobs/{id}/cancel", h.cancel)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such trigger: "+r.Method+" "+r.URL.Path)
	})
	h.mux = m
	return h, nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// SubmitRequest is the body of the submit trigger.
type SubmitRequest struct {
	// Spec is the job spec (a JSON object, as `sluice submit` takes).
	Spec json.RawMessage `json:"spec"`
	// SpecPath names a stored spec in the bucket instead, whose ${name}
	// placeholders Parameters fill.
	SpecPath   string            `json:"specPath,omitempty"`
	Parameters map[string]string `json:"parameters,omitempty"`
	// FromSavepoint optionally resumes from a savepoint reference.
	FromSavepoint string `json:"fromSavepoint,omitempty"`
}

// CancelRequest is the optional body of the cancel trigger.
type CancelRequest struct {
	// Savepoint takes a savepoint before cancelling.
	Savepoint bool `json:"savepoint"`
}

// CancelResult answers the cancel trigger.
type CancelResult struct {
	ID        string                 `json:"id"`
	State     api.JobState           `json:"state,omitempty"`
	Savepoint *api.SavepointResponse `json:"savepoint,omitempty"`
}

// readBody reads a bounded body; it writes the 413/400 itself and returns
// false on failure.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds %d bytes", h.maxBody))
			return nil, false
		}
		writeError(w, http.StatusBadRequest, "read request body: "+err.Error())
		return nil, false
	}
	return data, true
}

// decodeStrict decodes a JSON object into v, naming the offending field.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te) && te.Field != "":
			return fmt.Errorf("field %q: expected %s, got %s", te.Field, te.Type, te.Value)
		case errors.As(err, &se):
			return fmt.Errorf("body: malformed JSON at offset %d: %v", se.Offset, err)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return fmt.Errorf("field %s: unknown field", strings.TrimPrefix(err.Error(), "json: unknown field "))
		case errors.Is(err, io.EOF):
			return errors.New("body: empty, expected a JSON object")
		}
		return fmt.Errorf("body: %v", err)
	}
	if dec.More() {
		return errors.New("body: trailing data after the JSON object")
	}
	return nil
}

func (h *Handler) submit(w http.ResponseWriter, r *http.Request) {
	data, ok := h.readBody(w, r)
	if !ok {
		return
	}
	var req SubmitRequest
	var err error
	if err = decodeStrict(data, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	spec := bytes.TrimSpace(req.Spec)
	hasSpec := len(spec) > 0 && !bytes.Equal(spec, []byte("null"))
	switch {
	case hasSpec && req.SpecPath != "":
		writeError(w, http.StatusBadRequest, `field "specPath": give either "spec" or "specPath", not both`)
		return
	case req.SpecPath == "" && len(req.Parameters) > 0:
		writeError(w, http.StatusBadRequest, `field "parameters": only used with "specPath"`)
		return
	case req.SpecPath != "":
		if h.specs == nil {
			writeError(w, http.StatusBadRequest, `field "specPath": stored specs are off (set `+EnvSpecBucket+`)`)
			return
		}
		stored, err := loadStoredSpec(r.Context(), h.specs, req.SpecPath, req.Parameters)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		spec = stored
	case !hasSpec:
		writeError(w, http.StatusBadRequest, `field "spec": required, the job spec as a JSON object (or "specPath")`)
		return
	case spec[0] != '{':
		writeError(w, http.StatusBadRequest, `field "spec": must be a JSON object (the job spec)`)
		return
	}
	contentType := "application/json"
	if strings.HasSuffix(req.SpecPath, ".yaml") || strings.HasSuffix(req.SpecPath, ".yml") {
		contentType = "application/yaml"
	}
	// The caller's Idempotency-Key (the Functions host forwards headers)
	// makes its retries of the trigger safe; without one, the client makes
	// a key for its own retries.
	key := strings.TrimSpace(r.Header.Get(api.HeaderIdempotencyKey))
	if key == "" {
		if key, err = api.NewIdempotencyKey(); err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
	}
	id, err := h.client.SubmitWithKey(r.Context(), spec, contentType, strings.TrimSpace(req.FromSavepoint), key)
	if err != nil {
		h.coordinatorError(w, r, err)
		return
	}
	h.log.Info().Str("job", id).Msg("job submitted through the trigger")
	writeJSON(w, http.StatusCreated, api.SubmitResponse{ID: id})
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	jobs, err := h.client.Jobs(r.Context())
	if err != nil {
		h.coordinatorError(w, r, err)
		return
	}
	if jobs == nil {
		jobs = []api.JobSummary{}
	}
	writeJSON(w, http.StatusOK, api.JobList{Jobs: jobs})
}

func validID(w http.ResponseWriter, id string) bool {
	if id == "" || len(id) > 128 || strings.ContainsAny(id, "/\\?# ") {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("path parameter \"id\": invalid job id %q", id))
		return false
	}
	return true
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !validID(w, id) {
		return
	}
	job, err := h.client.Job(r.Context(), id)
	if err != nil {
		h.coordinatorError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, job)
}

func (h *Handler) cancel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !validID(w, id) {
		return
	}
	data, ok := h.readBody(w, r)
	if !ok {
		return
	}
	var req CancelRequest
	if len(bytes.TrimSpace(data)) > 0 {
		if err := decodeStrict(data, &req); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	if q := r.URL.Query().Get("savepoint"); q == "true" || q == "1" {
		req.Savepoint = true
	}
	if req.Savepoint {
		sp, err := h.client.Savepoint(r.Context(), id, true)
		if err != nil {
			h.coordinatorError(w, r, err)
			return
		}
		writeJSON(w, http.StatusAccepted, CancelResult{ID: id, State: api.JobCanceling, Savepoint: sp})
		return
	}
	res, err := h.client.Cancel(r.Context(), id)
	if err != nil {
		h.coordinatorError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, CancelResult{ID: res.ID, State: res.State})
}

// coordinatorError maps a coordinator failure: its 4xx answers (spec
// validation, unknown job, conflicts) pass through; a refused token and
// anything else become 502, since the caller cannot fix them.
func (h *Handler) coordinatorError(w http.ResponseWriter, r *http.Request, err error) {
	var se *api.StatusError
	if errors.As(err, &se) {
		switch {
		case se.Status == http.StatusUnauthorized || se.Status == http.StatusForbidden:
			h.log.Error().Err(err).Str("path", r.URL.Path).Msg("coordinator refused the handler's token")
			writeError(w, http.StatusBadGateway, fmt.Sprintf("the coordinator group refused the handler's token (%d %s): check the %s app setting (the Key Vault secret)", se.Status, se.Message, EnvToken))
			return
		case se.Status >= 400 && se.Status < 500:
			writeJSON(w, se.Status, api.Error{Error: se.Message, Details: se.Details})
			return
		}
	}
	h.log.Error().Err(err).Str("path", r.URL.Path).Msg("coordinator call failed")
	writeError(w, http.StatusBadGateway, "coordinator group unavailable: "+err.Error())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, api.Error{Error: msg})
}

// Addr returns the listen address from FUNCTIONS_CUSTOMHANDLER_PORT, or
// fallback when it is unset (local runs).
func Addr(fallback string) (string, error) {
	p := os.Getenv(EnvPort)
	if p == "" {
		return fallback, nil
	}
	if _, err := net.LookupPort("tcp", p); err != nil {
		return "", fmt.Errorf("%s=%q: %w", EnvPort, p, err)
	}
	// The host calls the handler on localhost.
	return "127.0.0.1:" + p, nil
}

// Serve serves h on addr until ctx ends. ready, when set, is called with
// the bound address once the handler accepts connections.
func Serve(ctx context.Context, addr string, h http.Handler, ready func(string)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("functions handler: listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if ready != nil {
		ready(ln.Addr().String())
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
