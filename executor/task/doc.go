// Package task runs one subtask: a pipeline of chained operators (see
// coordinator/plan) at one parallel index, inside an executor process.
//
// The subtask's goroutine pulls input (splits for a source head, buffers from
// an exchange.Gate otherwise), calls the chained operators directly with no
// serialisation in between, and hands the tail's records to one writer per
// outgoing edge. A writer partitions records (forward, hash by key group,
// rebalance, broadcast), encodes them into buffers, and sends full buffers
// through exchange outputs, which block when the consumer has no credit: that
// is how backpressure reaches the operators. Partially filled buffers are
// flushed every FlushInterval so that slow streams still move.
//
// On the wire inside a buffer every record is prefixed by its encoded length
// (uvarint). A record never straddles buffers unless it is larger than a
// whole buffer, in which case it starts a fresh buffer and continues into the
// next ones (see span.go).
//
// A keyed operator behind a hash edge may have a combiner (count, sum, min,
// max): the writer's side then pre-aggregates per key before the shuffle and
// the keyed operator merges partial results.
package task
