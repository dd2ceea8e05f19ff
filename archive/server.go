package archive

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/sluicehq/sluice/archive/webui"
	"github.com/sluicehq/sluice/blobstate"
	"github.com/sluicehq/sluice/coordinator/api"
)

// Config configures a history Server.
type Config struct {
	// Bucket holds the archives. Required.
	Bucket *blobstate.Bucket
	// CacheSize is how many archives the server keeps in memory (they
	// never change once written); 0 means 256, negative none.
	CacheSize int
	Logger    zerolog.Logger
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.Bucket == nil {
		return errors.New("history server config: Bucket is required")
	}
	return nil
}

// Server is the history server: it serves archived jobs straight from the
// bucket, with the coordinator's API paths and the web UI. It keeps nothing
// that matters: any number of servers can serve one bucket, and a restart
// loses only a cache. Its methods may be called from several goroutines.
type Server struct {
	index *Index
	cache *cache
	log   zerolog.Logger
}

// NewServer returns a history server over cfg.Bucket.
func NewServer(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	size := cfg.CacheSize
	if size == 0 {
		size = 256
	}
	return &Server{
		index: NewIndex(cfg.Bucket),
		cache: newCache(size),
		log:   cfg.Logger.With().Str("component", "history").Logger(),
	}, nil
}

// Handler returns the HTTP API and the web UI.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/jobs", s.handleList)
	mux.HandleFunc("GET /v1/jobs/{id}", s.handlePath(JobPath))
	mux.HandleFunc("GET /v1/jobs/{id}/checkpoints", s.handlePath(CheckpointsPath))
	mux.HandleFunc("GET /v1/jobs/{id}/exceptions", s.handlePath(ExceptionsPath))
	mux.Handle("GET /", webui.Handler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	return mux
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	page, err := s.index.List(r.Context(), q)
	if err != nil {
		if errors.Is(err, ErrBadQuery) {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		s.log.Warn().Err(err).Msg("list archived jobs")
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, page)
}

// handlePath serves one archived API path of a job.
func (s *Server) handlePath(path func(id string) string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		a, ok := s.cache.get(id)
		if !ok {
			var err error
			a, err = s.index.Read(r.Context(), id)
			if errors.Is(err, blobstate.ErrNotFound) {
				writeError(w, http.StatusNotFound, "no archived job "+id)
				return
			}
			if err != nil {
				s.log.Warn().Err(err).Str("job", id).Msg("read archive")
				writeError(w, http.StatusInternalServerError, err.Error())
				return
			}
			s.cache.put(a)
		}
		data, ok := a.Paths[path(id)]
		if !ok {
			writeError(w, http.StatusNotFound, "the archive of job "+id+" has no "+path(id))
			return
		}
		// an archive never changes once written
		w.Header().Set("Cache-Control", "public, max-age=3600, immutable")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(data)
	}
}

// parseQuery reads GET /v1/jobs's parameters: limit, state, name, from, to
// (RFC 3339 or Unix milliseconds) and next.
func parseQuery(r *http.Request) (Query, error) {
	v := r.URL.Query()
	q := Query{State: api.JobState(strings.ToUpper(v.Get("state"))), Name: v.Get("name"), Next: v.Get("next")}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return q, fmt.Errorf("limit %q: want a positive number (at most %d)", s, MaxLimit)
		}
		q.Limit = n
	}
	var err error
	if q.From, err = parseTime("from", v.Get("from")); err != nil {
		return q, err
	}
	q.To, err = parseTime("to", v.Get("to"))
	return q, err
}

func parseTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q: want an RFC 3339 time or Unix milliseconds", field, s)
	}
	return t, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(api.Error{Error: msg})
}
