package archive

import (
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"github.com/sluicehq/sluice/coordinator/api"
)

// Version is the archive format version that Write produces.
const Version = 1

// Prefix is where archives live in the bucket.
const Prefix = "archive/"

// Archive is a job that has ended, as archive/<job-id>.json holds it. Like
// Flink's archive, it maps each archived API path to the JSON the live API
// served for that job, so that one client and one UI serve running and
// finished jobs alike.
type Archive struct {
	Version int `json:"version"`
	// Job is the job's row of GET /v1/jobs when it ended; the index is
	// derived from it.
	Job api.JobSummary `json:"job"`
	// ArchivedAt is when the coordinator wrote the archive.
	ArchivedAt time.Time `json:"archivedAt"`
	// Paths maps API paths (JobPath(id), CheckpointsPath(id),
	// ExceptionsPath(id)) to their JSON.
	Paths map[string]json.RawMessage `json:"paths"`
}

// JobPath is the API path of a job: GET /v1/jobs/{id} (an api.Job).
func JobPath(id string) string { return "/v1/jobs/" + id }

// CheckpointsPath is the API path of a job's checkpoints (api.Checkpoints).
func CheckpointsPath(id string) string { return "/v1/jobs/" + id + "/checkpoints" }

// ExceptionsPath is the API path of a job's exceptions (Exceptions).
func ExceptionsPath(id string) string { return "/v1/jobs/" + id + "/exceptions" }

// New returns the archive of a job that has ended, with the JSON of each
// API path: the job (an api.Job), its checkpoints and its exceptions.
func New(job *api.Job, checkpoints *api.Checkpoints, exceptions *Exceptions, archivedAt time.Time) (*Archive, error) {
	if err := checkID(job.ID); err != nil {
		return nil, err
	}
	if !job.State.Terminal() || job.EndedAt == nil {
		return nil, fmt.Errorf("archive job %s: it is %s, not ended", job.ID, job.State)
	}
	a := &Archive{Version: Version, Job: job.JobSummary, ArchivedAt: archivedAt.UTC(), Paths: map[string]json.RawMessage{}}
	for path, v := range map[string]any{
		JobPath(job.ID):         job,
		CheckpointsPath(job.ID): checkpoints,
		ExceptionsPath(job.ID):  exceptions,
	} {
		data, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("archive job %s: encode %s: %w", job.ID, path, err)
		}
		a.Paths[path] = data
	}
	return a, nil
}

// Key is the object key of a job's archive.
func Key(id string) string { return Prefix + id + ".json" }

// Decode parses an archive object.
func Decode(data []byte) (*Archive, error) {
	var a Archive
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, fmt.Errorf("decode archive: %w", err)
	}
	if a.Version < 1 || a.Version > Version {
		return nil, fmt.Errorf("decode archive of job %s: unknown version %d", a.Job.ID, a.Version)
	}
	if err := checkID(a.Job.ID); err != nil {
		return nil, fmt.Errorf("decode archive: %w", err)
	}
	return &a, nil
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)

// checkID accepts job ids that are safe as object keys and index fields
// (coordinator ids are 16 hex digits).
func checkID(id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("job id %q: want 1-64 letters, digits or '-'", id)
	}
	return nil
}
