package exchange

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"
)

// TestCloseRightAfterEOFKeepsFinishClean closes the consumer's gate the
// moment it has seen every END_OF_PARTITION, as a subtask that is done does.
// The producer's Finish must still get its END_ACK and succeed.
func TestCloseRightAfterEOFKeepsFinishClean(t *testing.T) {
	prod := newExchange(t, Config{})
	cons := newExchange(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for round := 0; round < 100; round++ {
		id := ChannelID{Job: "j", Attempt: 1, Edge: round, From: 0, To: 0}
		g, err := cons.NewGate([]ChannelID{id})
		if err != nil {
			t.Fatal(err)
		}
		finished := make(chan error, 1)
		go func() {
			o, err := prod.Connect(ctx, id, cons.Addr())
			if err != nil {
				finished <- err
				return
			}
			buf := append(prod.GetBuffer(), "payload"...)
			if err := o.Send(ctx, buf); err != nil {
				finished <- err
				return
			}
			finished <- o.Finish(ctx)
		}()
		for {
			it, err := g.Next(ctx)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("round %d: next: %v", round, err)
			}
			g.Release(it)
		}
		g.Close()
		if err := <-finished; err != nil {
			t.Fatalf("round %d: producer Finish after the consumer closed its gate: %v", round, err)
		}
	}
}
