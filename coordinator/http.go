package coordinator

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/sluicehq/sluice/archive"
	"github.com/sluicehq/sluice/archive/webui"
	"github.com/sluicehq/sluice/coordinator/api"
	"github.com/sluicehq/sluice/coordinator/store"
)

func (c *Coordinator) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/jobs", c.handleSubmit)
	mux.HandleFunc("GET /v1/jobs", c.handleList)
	mux.HandleFunc("GET /v1/jobs/{id}", c.handleJob)
	mux.HandleFunc("POST /v1/jobs/{id}/cancel", c.handleCancel)
	mux.HandleFunc("GET /v1/jobs/{id}/checkpoints", c.handleCheckpoints)
	mux.HandleFunc("POST /v1/jobs/{id}/savepoints", c.handleSavepoint)
	mux.HandleFunc("GET /v1/jobs/{id}/exceptions", c.handleExceptions)

	mux.HandleFunc("POST /v1/internal/register", c.handleRegister)
	mux.HandleFunc("GET /v1/internal/deployment", c.handleDeployment)
	mux.HandleFunc("POST /v1/internal/heartbeat", c.handleHeartbeat)
	mux.HandleFunc("POST /v1/internal/task", c.handleTask)
	mux.HandleFunc("POST /v1/internal/split", c.handleSplit)
	mux.HandleFunc("GET /v1/internal/commands", c.handleCommands)
	mux.HandleFunc("POST /v1/internal/ack", c.handleAck)
	mux.HandleFunc("POST /v1/internal/agent/heartbeat", c.handleAgentHeartbeat)
	mux.HandleFunc("POST /v1/internal/agent/exit", c.handleAgentExit)
	mux.HandleFunc("GET /v1/cluster", c.handleCluster)
	mux.HandleFunc("POST /v1/cluster/join", c.handleJoin)
	mux.HandleFunc("POST /v1/cluster/remove", c.handleRemove)
	mux.HandleFunc("POST /v1/cluster/ping", c.handlePing)
	mux.Handle("GET /", webui.Handler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	return c.auth(c.forward(mux))
}

// auth requires the bearer token when one is configured, on every call
// but a GET of the web UI's own files (webui.Static: the page, its scripts
// and styles, no data), which this node serves itself without a token so
// that a browser can load the page; the page then asks for the token and
// sends it on its API calls.
func (c *Coordinator) auth(next http.Handler) http.Handler {
	if c.cfg.Token == "" {
		return next
	}
	want := []byte("Bearer " + c.cfg.Token)
	ui := webui.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if webui.Static(r) {
			ui.ServeHTTP(w, r) // straight to the files: never the API's mux
			return
		}
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			c.log.Warn().Str("path", r.URL.Path).Str("remote", r.RemoteAddr).Msg("refused call without a valid token")
			writeError(w, http.StatusUnauthorized, "missing or wrong auth token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string, details ...string) {
	writeJSON(w, status, api.Error{Error: msg, Details: details})
}

// storeError maps store errors to HTTP answers.
func storeError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, store.ErrNotLeader):
		writeError(w, http.StatusServiceUnavailable, "no quorum: this coordinator is not (or no longer) the leader: "+err.Error())
	case errors.Is(err, store.ErrInvalidState):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, store.ErrKeyReused):
		writeError(w, http.StatusUnprocessableEntity, err.Error())
	default:
		writeError(w, http.StatusInternalServerError, err.Error())
	}
}

// readBody reads a request body up to the limit, answering 413 beyond it.
func (c *Coordinator) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, c.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, "request body is larger than the limit of "+byteSize(c.cfg.MaxBodyBytes))
			return nil, false
		}
		writeError(w, http.StatusBadRequest, "read request body: "+err.Error())
		return nil, false
	}
	return body, true
}

func decodeJSON(w http.ResponseWriter, body []byte, v any) bool {
	if err := json.Unmarshal(body, v); err != nil {
		writeError(w, http.StatusBadRequest, "malformed request: "+err.Error())
		return false
	}
	return true
}

// handleList lists the jobs in the store: those that have not ended and
// those that ended within the retention (Config.RetainEnded and
// RetainEndedMax). Retired jobs are listed by the history server.
func (c *Coordinator) handleList(w http.ResponseWriter, r *http.Request) {
	jobs := c.cfg.Store.Jobs()
	out := api.JobList{Jobs: make([]api.JobSummary, 0, len(jobs))}
	state := strings.ToUpper(r.URL.Query().Get("state"))
	for _, j := range jobs {
		if state != "" && string(j.State) != state {
			continue
		}
		out.Jobs = append(out.Jobs, j.Summary())
	}
	out.Stale = isStale(r)
	writeJSON(w, http.StatusOK, out)
}

// handleJob serves GET /v1/jobs/{id}; a retired job's comes from its
// archive.
func (c *Coordinator) handleJob(w http.ResponseWriter, r *http.Request) {
	j, ok := c.cfg.Store.Job(r.PathValue("id"))
	if !ok {
		c.serveArchived(w, r, archive.JobPath)
		return
	}
	st := c.jobStatus(j)
	st.Stale = isStale(r)
	writeJSON(w, http.StatusOK, st)
}

func (c *Coordinator) handleCancel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	j, ok := c.cfg.Store.Job(id)
	if !ok {
		c.refuseEnded(w, r, id, "there is nothing to cancel")
		return
	}
	if j.State.Terminal() || j.State == api.JobCanceling || j.State == api.JobFailing {
		writeJSON(w, http.StatusOK, api.CancelResponse{ID: id, State: j.State})
		return
	}
	_, err := c.cfg.Store.Apply(store.Command{JobState: &store.JobStateCmd{ID: id, State: api.JobCanceling, At: time.Now().UTC()}})
	if err != nil {
		storeError(w, err)
		return
	}
	c.log.Info().Str("job", id).Msg("cancel requested")
	m := c.startMaster(id)
	m.wake()
	m.notify()
	writeJSON(w, http.StatusAccepted, api.CancelResponse{ID: id, State: api.JobCanceling})
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return itoa(n>>20) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return itoa(n>>10) + " KiB"
	}
	return itoa(n) + " bytes"
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
