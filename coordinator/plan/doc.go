// Package plan turns a validated job spec into an execution plan: which
// vertices run together in one pipeline, which edges cross between
// pipelines, and how subtasks share slots. It is pure computation, with no
// IO, and deterministic: the same spec always yields the same plan, so the
// plan can be stored in the coordinator's replicated log as JSON.
//
// Chaining follows Apache Flink: a spec edge is chained, its two vertices
// placed in the same pipeline and called directly one after the other in a
// single goroutine, when it is a forward edge, both ends have the same
// parallelism, the upstream vertex has exactly one output edge and the
// downstream vertex exactly one input edge. Every other spec edge becomes a
// plan Edge, over which records are exchanged (over the network or in
// memory) between the subtasks of two pipelines.
//
// A pipeline with parallelism p has subtasks 0..p-1. Slot sharing also
// follows Flink: subtask i of every pipeline runs in slot i, so a job needs
// as many slots as its largest parallelism, and a slot holds at most one
// subtask of each pipeline.
package plan
