package coordinator

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/coordinator/api"
	"github.com/sluicehq/sluice/coordinator/jobspec"
)

func TestRestartStrategies(t *testing.T) {
	now := time.Now()
	restarts := func(n int, ago time.Duration) []api.Restart {
		rs := make([]api.Restart, n)
		for i := range rs {
			rs[i].At = now.Add(-ago)
		}
		return rs
	}
	zero := jobspec.Duration(0)
	for _, tc := range []struct {
		name     string
		r        jobspec.Restart
		history  []api.Restart
		ok       bool
		min, max time.Duration
	}{
		{"none", jobspec.Restart{Strategy: jobspec.RestartNone}, nil, false, 0, 0},
		{"fixed default delay", jobspec.Restart{Strategy: jobspec.RestartFixed}, nil, true, time.Second, time.Second},
		{"fixed zero delay", jobspec.Restart{Strategy: jobspec.RestartFixed, Delay: &zero}, nil, true, 0, 0},
		{"fixed attempts used up", jobspec.Restart{Strategy: jobspec.RestartFixed, Attempts: 2}, restarts(2, time.Second), false, 0, 0},
		{"exponential first", jobspec.Restart{}, nil, true, 90 * time.Millisecond, 110 * time.Millisecond},
		{"exponential grows", jobspec.Restart{}, restarts(3, time.Second), true, 720 * time.Millisecond, 880 * time.Millisecond},
		{"exponential capped", jobspec.Restart{MaxDelay: jobspec.Duration(time.Second), Attempts: 100}, restarts(20, time.Second), true, 900 * time.Millisecond, 1100 * time.Millisecond},
		{"exponential used up", jobspec.Restart{}, restarts(10, time.Second), false, 0, 0},
		{"failure rate within", jobspec.Restart{Strategy: jobspec.RestartFailureRate, MaxFailures: 3}, restarts(2, time.Second), true, time.Second, time.Second},
		{"failure rate exceeded", jobspec.Restart{Strategy: jobspec.RestartFailureRate, MaxFailures: 3}, restarts(3, time.Second), false, 0, 0},
		{"failure rate old failures forgotten", jobspec.Restart{Strategy: jobspec.RestartFailureRate, MaxFailures: 3}, restarts(3, 2*time.Minute), true, time.Second, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, ok := restartDelay(tc.r, tc.history, now)
			if ok != tc.ok || (ok && (d < tc.min || d > tc.max)) {
				t.Fatalf("restartDelay = %v, %v; want ok=%v in [%v, %v]", d, ok, tc.ok, tc.min, tc.max)
			}
		})
	}
}

func TestRemainingSplits(t *testing.T) {
	// see checkpoints.go: current split with its offset, later assignments,
	// then what nobody took
	q := queue("a", "b", "c", "d", "e")
	q.Assigned = map[int][]pendingSplitT{0: {ps("a"), ps("b")}, 1: {ps("c")}}
	q.Pending = []pendingSplitT{ps("d"), ps("e")}
	rem, err := remainingSplits(q, map[int]*api.SourcePosition{
		0: {Completed: 1, Current: "b", Offset: 7},
		1: {Completed: 0},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rem {
		got = append(got, r.Split.ID+":"+itoa(r.Skip))
	}
	want := "b:7 c:0 d:0 e:0"
	if s := join(got); s != want {
		t.Fatalf("remaining %s, want %s", s, want)
	}
	if _, err := remainingSplits(q, map[int]*api.SourcePosition{0: {Completed: 0, Current: "b"}}); err == nil {
		t.Fatal("a position that contradicts the assignments was accepted")
	}
}
