// Package archive owns the job archive and the history server. When a job
// ends (FINISHED, CANCELED or FAILED) the coordinator's leader writes its
// archive to the bucket, and the history server serves archived jobs
// straight from there: it keeps no state that matters, so any number of
// history servers can serve one bucket, a restart loses only a cache, and a
// new archive shows at the next request.
//
// # Archives
//
// archive/<job-id>.json holds, like Flink's archive, the JSON the
// coordinator's API served for the job's paths when it ended: GET
// /v1/jobs/{id} (spec, plan, vertices with their final metrics and
// backpressure, subtasks, executors, times, restarts, warnings, last
// savepoint), /v1/jobs/{id}/checkpoints (the checkpoint history: id,
// status, duration, size, acknowledgements) and /v1/jobs/{id}/exceptions
// (Exceptions). The history server answers those paths with those bytes, so
// one client and one UI (package webui) serve running and archived jobs.
//
// # The index
//
// Listing jobs must not read every archive: with 10,000 of them a history
// server would read 10,000 objects per page. Instead each archived job has
// empty index objects whose names carry what the list shows:
//
//	archive/index/all/<entry>            every archived job
//	archive/index/state/<STATE>/<entry>  the jobs that ended in STATE
//	<entry> = <9999999999999 - end ms>_<id>_<STATE>_<submitted ms>_<escaped name>
//
// Key order is newest end first, so a page of GET /v1/jobs is one listing
// of a view, and nothing is read. A state filter lists that state's view;
// a time filter starts the listing at the inverted end time (a directory
// read and a binary search on file://; a skip over names elsewhere, as Azure
// listings cannot start at a name) and stops past the other bound; a name
// filter (case-insensitive substring) looks at names only. The
// continuation token is the last name returned (plus, on Azure, the token of
// its listing page). On file:// buckets the index is read with a directory
// read, not with gocloud's fileblob lister, which stats every object and
// opens its sidecar file even before the page token (see scan.go). Names
// longer than 150 escaped bytes are cut in the index (the list shows them
// with "…"; the archive has the whole name). The list rows have no error
// field: the job page has it.
//
// # Consistency with several coordinators
//
// Every object is written with blobstate's create-if-absent WriteOnce, the
// archive first and its index entries second, and every name and index
// entry derives from the job's replicated record (id, name, state,
// submission and end time), so an old leader and a new one that both
// archive a job write one archive (the first writer wins; the other keeps
// it and indexes what it holds) and each index entry once. An index entry
// therefore never exists without its archive. A coordinator that stops
// between the two leaves an archive without index entries; the leader's
// sweep when it starts leading (Index.Archived, Index.Repair) writes them,
// and writes the archives of ended jobs that have none (a leader that
// stopped after a job ended and before its archive). Whoever deletes
// archives (no component does yet) must delete the index entries first,
// and mind that the coordinator answers for the jobs it retired from its
// store (coordinator/retire.go) from their archives.
//
// # Usage
//
//	b, _ := blobstate.OpenBucket(ctx, url, blobstate.Options{})
//	a, _ := archive.New(job, checkpoints, exceptions, time.Now())
//	wrote, err := archive.Write(ctx, b, a)     // coordinator, once per job
//
//	srv, _ := archive.NewServer(archive.Config{Bucket: b})
//	http.ListenAndServe("127.0.0.1:8082", srv.Handler())
package archive
