// Package jobspec reads, checks and normalizes Sluice job specs.
//
// A job spec is a JSON or YAML document naming a job and describing its
// dataflow graph: vertices (operator instances with their configs and
// parallelism) and the edges between them (how records are partitioned on
// the way from one vertex to the next):
//
//	{
//	  "name": "wordcount",
//	  "defaults": {"parallelism": 2},
//	  "vertices": [
//	    {"id": "lines", "operator": "text", "config": {"bucket": "corpus"}},
//	    {"id": "words", "operator": "flatmap", "config": {...}},
//	    {"id": "count", "operator": "count"},
//	    {"id": "out", "operator": "print", "parallelism": 1}
//	  ],
//	  "edges": [
//	    {"from": "lines", "to": "words"},
//	    {"from": "words", "to": "count", "partitioning": "hash", "key": "word"},
//	    {"from": "count", "to": "out", "partitioning": "rebalance"}
//	  ]
//	}
//
// The life of a spec is Parse (or Load, which also resolves relative bucket
// paths against the spec file's directory), Validate against the operator
// catalog, then Normalize before it is planned (see coordinator/plan).
//
// Parse rejects what is wrong with the document's shape (syntax, unknown
// fields, wrong types); Validate rejects what is wrong with its meaning
// (unknown operators, bad configs, impossible graphs). Both report every
// problem they find at once, as a *ValidationError whose entries name the
// offending field by its path in the document ("edges[1].partitioning",
// "vertices[2].config.key").
package jobspec
