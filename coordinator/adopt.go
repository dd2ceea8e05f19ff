package coordinator

import (
	"github.com/sluicehq/sluice/coordinator/store"
)

// Adopter is implemented by a Launcher whose executors do not depend on the
// process that launched them, so that another coordinator can take them
// over (launch.ContainerApps: an execution runs in Azure whichever leader
// started it). Right after a launch, the executor's handle is recorded in
// the replicated store (the `launched` command); a node that becomes
// leader adopts every executor of an unfinished job that has a handle and
// has not exited, so that its launcher can kill it and reports its end
// through Coordinator.ExecutorExited. Launchers whose executors die with
// their launcher (launch.Process) or that the store already locates
// (agents) need not implement it.
type Adopter interface {
	// Handle returns what Adopt needs to take over an executor this
	// launcher launched or adopted, while it tracks it (its end has not
	// been reported).
	Handle(executorID string) (handle string, ok bool)
	// Adopt makes an executor launched by another launcher this one's own:
	// Kill works for it and its end is reported once. Adopting an executor
	// it already tracks under the same handle does nothing; one that has
	// already ended is reported ended.
	Adopt(executorID, handle string) error
}

// recordHandle records the launcher's handle of an executor it has just
// launched, so that a later leader can adopt it.
func (m *jobMaster) recordHandle(executorID string) {
	a, ok := m.c.launcher.(Adopter)
	if !ok {
		return
	}
	h, ok := a.Handle(executorID)
	if !ok {
		return // it has ended already; the launcher reports that
	}
	if err := m.apply(store.Command{Launched: &store.LaunchedCmd{Job: m.id, ExecutorID: executorID, Handle: h}}); err != nil {
		m.log.Warn().Err(err).Str("executor", executorID).Str("handle", h).Msg("record the executor's launch handle; a later leader cannot adopt it")
	}
}

// adoptExecutors has the launcher take over the running executors that
// earlier leaders launched (on taking over as leader).
func (c *Coordinator) adoptExecutors() {
	a, ok := c.launcher.(Adopter)
	if !ok {
		return
	}
	for _, j := range c.cfg.Store.Jobs() {
		if j.State.Terminal() {
			continue
		}
		for _, e := range sortedExecutors(j) {
			if e.Exited || e.Handle == "" {
				continue
			}
			if err := a.Adopt(e.ID, e.Handle); err != nil {
				c.log.Warn().Err(err).Str("job", j.ID).Str("executor", e.ID).Str("handle", e.Handle).Msg("adopt executor")
				continue
			}
			c.log.Debug().Str("job", j.ID).Str("executor", e.ID).Str("handle", e.Handle).Msg("executor adopted")
		}
	}
}
