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
//	archive/index/day/<day>/<entry>      the jobs that ended on that UTC day
//	<entry> = <9999999999999 - end ms>_<id>_<STATE>_<submitted ms>_<escaped name>
//	<day>   = <9999999999999 - ms of the day's first millisecond, UTC>
//
// Both times and <day> are 13 digits. Key order is newest end first, in
// every view and among the days (2026-11-27 is 8204262399999, the day
// before 8204348799999), so the day views listed one after the other, newest
// day first, give the all view's order. A page of GET /v1/jobs is one
// listing of a view, and nothing is read. A state filter lists that
// state's view; a name filter (case-insensitive substring) looks at names
// only.
//
// A time window with a lower bound (from, with or without to) lists the
// day views from the day of to (or of the newest job) down to the day of
// from, each from its start, and keeps the jobs of the state filter (read
// from the names) and name filter: it costs one listing per day and the
// names of the window's days, however deep the window lies. A page that
// has listed 31 days without a job ends there, with a continuation token
// (the day to go on with), so that a window of years with few jobs cannot
// make one request slow; such a page may be short, or empty. Otherwise the
// pages are those of the full scan below.
//
// The day views are used once archive/index/day-complete exists: the
// leader's sweep (Index.Repair) writes it after it has written the day
// entries of every archive that has none (archives written by a version
// without day views). Before it, and for a time filter with only an upper
// bound (to), the list scans the all or state view: it starts the listing
// at the inverted end time of to (a directory read and a binary search on
// file://; a skip over every newer name elsewhere, as Azure listings cannot
// start at a name) and stops past from.
//
// The continuation token is the last name returned (plus, on Azure, the
// token of its listing page, and, in the day views, its day). A token of
// the all or state view given to a day-view listing (the day views became
// complete between two pages) resumes after its name, in its day. On
// file:// buckets the index is read with a directory read, not with
// gocloud's fileblob lister, which stats every object and opens its
// sidecar file even before the page token (see scan.go). Names longer than
// 150 escaped bytes are cut in the index (the list shows them with "…";
// the archive has the whole name). The list rows have no error field: the
// job page has it.
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
// stopped after a job ended and before its archive). The same sweep writes
// the missing day entries of archives written before the day views, then
// archive/index/day-complete. A coordinator of a version without day
// views that archives a job after that leaves it out of time windows until
// a newer leader's sweep. Whoever deletes
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
