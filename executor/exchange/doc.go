// Package exchange is the executor-to-executor data plane of Sluice.
//
// It owns moving opaque byte buffers (batches of already-encoded records)
// and small control events from producing subtasks to consuming subtasks,
// either over TCP between executor processes or in memory inside one
// process. It does not look inside buffers, does not decide where subtasks
// run (the coordinator does) and does not retry failed channels (a broken
// channel fails the job attempt).
//
// An Exchange is one per executor process. It listens for incoming
// channels (consumer side) and dials outgoing ones (producer side):
//
//   - Consumer: NewGate registers the input channels of one subtask input;
//     Gate.Next returns buffers and events from any of them; Gate.Release
//     hands a buffer back, which returns one credit to its producer.
//   - Producer: Connect opens an Output for one channel; Output.Send blocks
//     while the channel has no credit (backpressure); Output.Finish sends
//     END_OF_PARTITION and waits for the consumer's acknowledgement.
//
// Flow control is credit based, as in Apache Flink: memory in flight is
// bounded per channel (see Metrics and DESIGN.md for the exact bound), so a
// slow consumer blocks its producers instead of growing memory.
package exchange
