package coordinator

import (
	"strings"

	"github.com/sluicehq/sluice/coordinator/store"
	"github.com/sluicehq/sluice/executor/operator"
)

type pendingSplitT = store.PendingSplit

func ps(id string) store.PendingSplit { return store.PendingSplit{Split: operator.Split{ID: id}} }

func queue(ids ...string) *store.SplitQueue {
	q := &store.SplitQueue{}
	for _, id := range ids {
		q.All = append(q.All, operator.Split{ID: id})
	}
	return q
}

func join(s []string) string { return strings.Join(s, " ") }
