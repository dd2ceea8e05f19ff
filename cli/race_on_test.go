//go:build race

package cli

// raceEnabled builds the cluster tests' sluice binary with -race too, so
// that `go test -race` checks the coordinator and agent processes.
const raceEnabled = true
