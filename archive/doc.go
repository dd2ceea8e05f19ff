// Package archive will own the job archive that the coordinator writes to
// archive/<job-id>.json in the bucket when a job ends, and the history server
// that serves it straight from the bucket (issue 6). Nothing is archived yet.
package archive
