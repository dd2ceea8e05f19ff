package coordinator

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/archive"
	"github.com/sluicehq/sluice/blobstate"
	"github.com/sluicehq/sluice/coordinator/api"
	"github.com/sluicehq/sluice/coordinator/store"
)

// Retention of ended jobs. Like Flink's JobManager, which keeps a finished
// job for jobstore.expiration-time and then leaves it to the history
// server, the leader retires (the `retire` command) an ended job once its
// archive is written and it has been ended for Config.RetainEnded, or
// sooner, earliest end first, while more than Config.RetainEndedMax ended
// jobs are in the store. So neither the job table nor the raft snapshot
// grows with every job ever run. GET /v1/jobs/{id} (and its checkpoints
// and exceptions) of a retired job answer from its archive; GET /v1/jobs
// lists the store, and the history server lists the archives.

// markArchived records that a job's archive and index entries are written.
func (c *Coordinator) markArchived(id string) {
	c.mu.Lock()
	c.archived[id] = true
	c.mu.Unlock()
}

func (c *Coordinator) isArchived(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.archived[id]
}

// markCleaned records that an ended job's sink staging is cleaned up.
func (c *Coordinator) markCleaned(id string) {
	c.mu.Lock()
	c.cleaned[id] = true
	c.mu.Unlock()
}

func (c *Coordinator) isCleaned(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cleaned[id]
}

// kickRetire has the retire loop look for jobs due now.
func (c *Coordinator) kickRetire() {
	select {
	case c.retireKick <- struct{}{}:
	default:
	}
}

// retireEvery is how often the leader looks for ended jobs due: at most a
// minute, at least a second apart.
func (c *Coordinator) retireEvery() time.Duration {
	return min(time.Minute, max(time.Second, c.cfg.RetainEnded))
}

// retireLoop retires the ended jobs that are due, every retireEvery and
// after every archive write, until ctx (the term) ends.
func (c *Coordinator) retireLoop(ctx context.Context) {
	t := time.NewTicker(c.retireEvery())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.retireKick:
		}
		if err := c.retireDue(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn().Err(err).Msg("retire ended jobs; will try again")
		}
	}
}

// retireDue retires the ended jobs that are due: ended for RetainEnded,
// or the earliest ended beyond RetainEndedMax. A job whose archive this
// process has not seen written gets it written (or found) first, and one
// whose sink staging it has not seen cleaned gets it cleaned; a job where
// either fails stays.
func (c *Coordinator) retireDue(ctx context.Context) error {
	ended := c.cfg.Store.Ended()
	c.pruneArchived(ended)
	excess := len(ended) - c.cfg.RetainEndedMax
	now := time.Now()
	retired := 0
	var errs []error
	for i, e := range ended {
		if i >= excess && now.Sub(e.EndedAt) < c.cfg.RetainEnded {
			break // the others ended later
		}
		if ctx.Err() != nil {
			break
		}
		if !c.isArchived(e.ID) || !c.isCleaned(e.ID) {
			j, ok := c.cfg.Store.Job(e.ID)
			if !ok {
				continue
			}
			if !c.isArchived(e.ID) {
				if err := c.writeArchive(ctx, j); err != nil {
					errs = append(errs, fmt.Errorf("retire job %s: %w", e.ID, err))
					continue
				}
			}
			if !c.isCleaned(e.ID) {
				// once retired, nothing would clean its staging any more
				if _, err := c.sweepStaging(ctx, j, stagingSweep{commitUpTo: math.MaxInt64}); err != nil {
					errs = append(errs, fmt.Errorf("retire job %s: clean up its sink staging: %w", e.ID, err))
					continue
				}
				c.markCleaned(e.ID)
			}
		}
		_, err := c.cfg.Store.Apply(store.Command{Retire: &store.RetireCmd{Job: e.ID}})
		switch {
		case errors.Is(err, store.ErrNotLeader):
			return fmt.Errorf("retire job %s: %w", e.ID, err)
		case err != nil && !errors.Is(err, store.ErrNotFound):
			errs = append(errs, fmt.Errorf("retire job %s: %w", e.ID, err))
			continue
		}
		c.forgetJob(e.ID)
		retired++
	}
	if retired > 0 {
		c.log.Info().Int("retired", retired).Int("endedKept", len(ended)-retired).Msg("retired ended jobs; their archives answer for them")
	}
	return errors.Join(errs...)
}

// pruneArchived forgets the jobs that left the store (another leader
// retired them), in archived and cleaned.
func (c *Coordinator) pruneArchived(ended []store.EndedJob) {
	in := make(map[string]bool, len(ended))
	for _, e := range ended {
		in[e.ID] = true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range []map[string]bool{c.archived, c.cleaned} {
		for id := range m {
			if !in[id] {
				delete(m, id)
			}
		}
	}
}

// forgetJob drops what this node keeps of a retired job.
func (c *Coordinator) forgetJob(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.archived, id)
	delete(c.cleaned, id)
	delete(c.masters, id) // it stopped when the job ended
}

// readArchive reads a job's archive from the cluster's bucket; nil, nil
// when the job has none.
func (c *Coordinator) readArchive(ctx context.Context, id string) (*archive.Archive, error) {
	st, err := c.storage(ctx, c.cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("open the archive bucket: %w", err)
	}
	a, err := archive.NewIndex(st.b).Read(ctx, id)
	if errors.Is(err, blobstate.ErrNotFound) {
		return nil, nil
	}
	return a, err
}

// serveArchived answers a read of a job that is not in the store (a
// retired job) with what its archive holds for the API path: the JSON the
// API served when the job ended. A job without an archive is not found.
func (c *Coordinator) serveArchived(w http.ResponseWriter, r *http.Request, path func(id string) string) {
	id := r.PathValue("id")
	a, err := c.readArchive(r.Context(), id)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "job "+id+" is not in the coordinator's store and its archive cannot be read: "+err.Error())
		return
	}
	data, ok := []byte(nil), false
	if a != nil {
		data, ok = a.Paths[path(id)]
	}
	if !ok {
		writeError(w, http.StatusNotFound, "no such job: "+id)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(api.HeaderArchived, "true")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
}

// refuseEnded answers a write (cancel, savepoint) to a job that is not in
// the store: 409 naming the state it ended in when it is archived (it was
// retired), 404 when there is no such job.
func (c *Coordinator) refuseEnded(w http.ResponseWriter, r *http.Request, id, what string) {
	a, err := c.readArchive(r.Context(), id)
	switch {
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, "job "+id+" is not in the coordinator's store and its archive cannot be read: "+err.Error())
	case a == nil:
		writeError(w, http.StatusNotFound, "no such job: "+id)
	default:
		writeError(w, http.StatusConflict, fmt.Sprintf("job %s has ended (%s) and is in the job history; %s", id, a.Job.State, what))
	}
}
