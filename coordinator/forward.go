package coordinator

import (
	"context"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"

	"github.com/sluicehq/sluice/coordinator/api"
)

// Any node serves the whole API. The leader serves everything itself. A
// follower forwards to the leader (its HTTP address comes from the node
// table in the replicated store): every write, every /v1/internal/ call
// (executors and agents need the leader's memory: heartbeats, command
// logs, checkpoints in flight) and, while the leader answers, reads too.
// When there is no leader, or it cannot be reached, writes fail fast with
// 503 "no quorum" and reads are served from this node's copy, marked stale
// (the X-Sluice-Stale header and a "stale" field).

type staleKey struct{}

// isStale reports whether r is a read served by a follower.
func isStale(r *http.Request) bool {
	v, _ := r.Context().Value(staleKey{}).(bool)
	return v
}

// leaderProxy forwards requests to the leader.
type leaderProxy struct {
	c *Coordinator

	mu      sync.Mutex
	proxies map[string]*httputil.ReverseProxy // by leader URL
}

func newLeaderProxy(c *Coordinator) *leaderProxy {
	return &leaderProxy{c: c, proxies: map[string]*httputil.ReverseProxy{}}
}

func (p *leaderProxy) proxy(leaderURL string) (*httputil.ReverseProxy, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if rp, ok := p.proxies[leaderURL]; ok {
		return rp, nil
	}
	u, err := url.Parse(leaderURL)
	if err != nil {
		return nil, err
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = p.c.cfg.HTTP.Transport
	rp.FlushInterval = -1
	rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		if next, ok := r.Context().Value(localKey{}).(http.Handler); ok && servedLocally(r) {
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), staleKey{}, true)))
			return
		}
		writeError(w, http.StatusServiceUnavailable, "no quorum: the leader at "+leaderURL+" cannot be reached: "+err.Error())
	}
	p.proxies[leaderURL] = rp
	return rp, nil
}

type localKey struct{}

// servedLocally reports whether a follower may answer r from its own copy
// when the leader cannot: reads of the public API.
func servedLocally(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) && !strings.HasPrefix(r.URL.Path, "/v1/internal/")
}

// forward wraps the API: the leader serves, followers forward.
func (c *Coordinator) forward(next http.Handler) http.Handler {
	self := c.cfg.Store.NodeID()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(api.HeaderNode, self)
		if c.leading() || (r.Method == http.MethodGet && r.URL.Path == "/v1/cluster") {
			next.ServeHTTP(w, r)
			return
		}
		stale := func() {
			w.Header().Set(api.HeaderStale, "true")
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), staleKey{}, true)))
		}
		leaderID, leaderURL := c.cfg.Store.Leader()
		if leaderID == "" || leaderID == self || leaderURL == "" || r.Header.Get(api.HeaderForwarded) != "" {
			if servedLocally(r) {
				stale()
				return
			}
			msg := "no quorum: no leader is elected (a majority of the coordinator nodes must be up)"
			switch {
			case leaderID == self:
				msg = "no quorum: this node is becoming the leader; try again"
			case leaderID != "" && leaderURL == "":
				msg = "no quorum: the leader " + leaderID + " has not recorded its address yet; try again"
			case r.Header.Get(api.HeaderForwarded) != "":
				msg = "no quorum: forwarded to " + self + ", which is not the leader (the leader changed); try again"
			}
			writeError(w, http.StatusServiceUnavailable, msg)
			return
		}
		rp, err := c.proxy.proxy(leaderURL)
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, "no quorum: leader address "+leaderURL+": "+err.Error())
			return
		}
		r.Header.Set(api.HeaderForwarded, self)
		rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), localKey{}, staleHandler(next))))
	})
}

// staleHandler serves a read from this node's copy, marked stale.
func staleHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(api.HeaderStale, "true")
		next.ServeHTTP(w, r)
	})
}
