package archive

import (
	"container/list"
	"sync"
)

// cache keeps the most recently used archives. Archives never change once
// written, so an entry is never stale; only the bound evicts. Missing
// archives are not cached, so a new one shows at the next request.
type cache struct {
	mu    sync.Mutex
	max   int
	order *list.List               // front: most recent; values are *Archive
	byID  map[string]*list.Element // job id -> element
}

func newCache(max int) *cache {
	return &cache{max: max, order: list.New(), byID: map[string]*list.Element{}}
}

func (c *cache) get(id string) (*Archive, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byID[id]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*Archive), true
}

func (c *cache) put(a *Archive) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byID[a.Job.ID]; ok {
		c.order.MoveToFront(el)
		return
	}
	c.byID[a.Job.ID] = c.order.PushFront(a)
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.byID, last.Value.(*Archive).Job.ID)
	}
}
