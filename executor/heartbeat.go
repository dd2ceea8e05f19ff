package executor

import (
	"context"
	"errors"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/sluicehq/sluice/coordinator/api"
	"github.com/sluicehq/sluice/executor/exchange"
	"github.com/sluicehq/sluice/executor/task"
)

// errCancelled is the cause of a run cancelled by the coordinator.
var errCancelled = errors.New("job cancelled by the coordinator")

// heartbeater reports metrics periodically, cancels the run when the
// coordinator says so, and gives up when the coordinator stays unreachable.
type heartbeater struct {
	client *api.Client
	cfg    Config
	ex     *exchange.Exchange
	tasks  []*task.Task
	cancel context.CancelCauseFunc
	log    zerolog.Logger

	lostCoordinator atomic.Bool
}

func (h *heartbeater) run(ctx context.Context) {
	t := time.NewTicker(h.cfg.HeartbeatInterval)
	defer t.Stop()
	lastOK := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		resp, err := h.send(ctx, false)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if time.Since(lastOK) > h.cfg.HeartbeatTimeout {
				h.log.Error().Err(err).Msg("coordinator unreachable past the heartbeat timeout; stopping")
				h.lostCoordinator.Store(true)
				h.cancel(errors.New("lost the coordinator"))
				return
			}
			continue
		}
		lastOK = time.Now()
		if resp.Cancel {
			h.log.Info().Msg("cancel requested by the coordinator")
			h.cancel(errCancelled)
			return
		}
	}
}

func (h *heartbeater) send(ctx context.Context, final bool) (*api.HeartbeatResponse, error) {
	m := h.ex.Metrics()
	hb := api.Heartbeat{
		ExecutorID: h.cfg.ExecutorID, Job: h.cfg.Job,
		InflightBytes: m.InFlightBytes, MaxInflightBytes: m.MaxInFlightBytes, Final: final,
		MaxRSSBytes: maxRSS(),
	}
	for _, t := range h.tasks {
		hb.Tasks = append(hb.Tasks, t.Metrics())
	}
	if final {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
	} else {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.cfg.HeartbeatTimeout)
		defer cancel()
	}
	return h.client.Heartbeat(ctx, hb)
}

// maxRSS returns the process's peak resident set size in bytes.
func maxRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Maxrss * 1024 // kilobytes on Linux
}
