package operator

import "testing"

func TestStagingAreaAttempt(t *testing.T) {
	a := StagingArea{Prefix: "out/_staging/j1/"}
	if got := a.AttemptDir(12); got != "out/_staging/j1/a12/" {
		t.Fatalf("AttemptDir(12) = %q", got)
	}
	for _, tc := range []struct {
		key     string
		attempt int
		ok      bool
	}{
		{"out/_staging/j1/a1/v-00000-ab12-1.jsonl", 1, true},
		{"out/_staging/j1/a12/v-00000-ab12-1.jsonl", 12, true},
		{"out/_staging/j1/a12/deeper/x", 12, true},
		{"out/_staging/j1/v-00000-ab12-1.jsonl", 0, false}, // no attempt directory
		{"out/_staging/j1/a0/x", 0, false},
		{"out/_staging/j1/a01/x", 0, false},
		{"out/_staging/j1/a-1/x", 0, false},
		{"out/_staging/j1/ab/x", 0, false},
		{"out/_staging/j10/a1/x", 0, false},
		{"out/part-v-00000-000001.jsonl", 0, false},
	} {
		n, ok := a.Attempt(tc.key)
		if n != tc.attempt || ok != tc.ok {
			t.Errorf("Attempt(%q) = %d, %v; want %d, %v", tc.key, n, ok, tc.attempt, tc.ok)
		}
	}
}
