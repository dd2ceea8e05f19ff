package archive

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluicehq/sluice/coordinator/api"
)

// The index: one empty object per job and view, whose name carries what a
// job list shows, so that a page of the list is one listing and no reads.
//
//	archive/index/all/<entry>            every archived job
//	archive/index/state/<STATE>/<entry>  the jobs that ended in STATE
//	archive/index/day/<day>/<entry>      the jobs that ended on that UTC day
//	archive/index/day-complete           every archive has its day entry
//
// where <day> is 9999999999999 minus the day's first millisecond (UTC),
// 13 digits: the encoding of an entry's end time, so that days sort newest
// first and the day views, listed one after the other, give the all view's
// order. An entry name is
//
//	<9999999999999 - end ms>_<id>_<STATE>_<submitted ms>_<name>
//
// with both times as 13 digits, so that key order is newest end first, and
// the name escaped (letters, digits and '-' as they are, other bytes as ~XX)
// and cut to maxNameField bytes (then it ends in "~~").
const (
	indexPrefix = Prefix + "index/"
	allView     = indexPrefix + "all/"
	stateViews  = indexPrefix + "state/"
	dayViews    = indexPrefix + "day/"
)

// DayIndexComplete is the object that Index.Repair writes once every
// archive it found has its entry in a day view: before it (a bucket
// archived by an older version), the list answers time windows from the
// all and state views.
const DayIndexComplete = indexPrefix + "day-complete"

// dayMillis is the length of a day view.
const dayMillis = int64(24 * time.Hour / time.Millisecond)

// maxMillis is the largest time an entry can hold (year 2286).
const maxMillis = 9999999999999

// maxNameField bounds the escaped name so that an entry stays well within
// a file name's 255 bytes.
const maxNameField = 150

// stateView is the prefix of the view of jobs that ended in state.
func stateView(state api.JobState) string { return stateViews + string(state) + "/" }

// dayOf returns the first millisecond of the UTC day of t, clamped as
// entries clamp times.
func dayOf(t time.Time) int64 {
	ms := clampMillis(t)
	return ms - ms%dayMillis
}

// dayName returns the name of the day view of the day that starts at ms.
func dayName(ms int64) string { return fmt.Sprintf("%013d", maxMillis-ms) }

// parseDay reverses dayName.
func parseDay(s string) (int64, error) {
	inv, err := strconv.ParseInt(s, 10, 64)
	if err != nil || len(s) != 13 || inv < 0 || (maxMillis-inv)%dayMillis != 0 {
		return 0, fmt.Errorf("day %q: want 13 digits, 9999999999999 minus the day's first millisecond", s)
	}
	return maxMillis - inv, nil
}

// dayView is the prefix of the view of the jobs that ended on the day that
// starts at ms.
func dayView(ms int64) string { return dayViews + dayName(ms) + "/" }

// entry is one job in the index.
type entry struct {
	ID        string
	State     api.JobState
	Name      string
	Truncated bool // Name was cut
	Submitted time.Time
	Ended     time.Time
}

// entryOf returns the index entry of a job's summary.
func entryOf(s api.JobSummary) (entry, error) {
	if err := checkID(s.ID); err != nil {
		return entry{}, err
	}
	if !s.State.Terminal() {
		return entry{}, fmt.Errorf("index job %s: state %s is not terminal", s.ID, s.State)
	}
	if s.EndedAt == nil {
		return entry{}, fmt.Errorf("index job %s: no end time", s.ID)
	}
	return entry{
		ID: s.ID, State: s.State, Name: s.Name,
		Submitted: s.SubmittedAt.Truncate(time.Millisecond).UTC(),
		Ended:     s.EndedAt.Truncate(time.Millisecond).UTC(),
	}, nil
}

// keys returns the index objects of e: in the all view, its state's and
// its end day's.
func (e entry) keys() []string {
	n := e.name()
	return []string{allView + n, stateView(e.State) + n, dayView(dayOf(e.Ended)) + n}
}

// name returns e's object name within a view.
func (e entry) name() string {
	name, _ := escapeName(e.Name)
	return fmt.Sprintf("%013d_%s_%s_%013d_%s", maxMillis-clampMillis(e.Ended), e.ID, e.State, clampMillis(e.Submitted), name)
}

// summary returns the list row of e. Error is not in the index: the job
// page has it.
func (e entry) summary() api.JobSummary {
	ended := e.Ended
	name := e.Name
	if e.Truncated {
		name += "…"
	}
	return api.JobSummary{ID: e.ID, Name: name, State: e.State, SubmittedAt: e.Submitted, EndedAt: &ended}
}

// invertedEnd returns the first field of the names of jobs that ended at t.
func invertedEnd(t time.Time) string {
	return fmt.Sprintf("%013d", maxMillis-clampMillis(t))
}

// parseEntry parses an entry's object name.
func parseEntry(name string) (entry, error) {
	f := strings.SplitN(name, "_", 5)
	if len(f) != 5 || len(f[0]) != 13 || len(f[3]) != 13 {
		return entry{}, fmt.Errorf("index entry %q: want <end>_<id>_<state>_<submitted>_<name>", name)
	}
	inv, err1 := strconv.ParseInt(f[0], 10, 64)
	sub, err2 := strconv.ParseInt(f[3], 10, 64)
	if err1 != nil || err2 != nil || inv < 0 || sub < 0 {
		return entry{}, fmt.Errorf("index entry %q: malformed time", name)
	}
	if err := checkID(f[1]); err != nil {
		return entry{}, fmt.Errorf("index entry %q: %w", name, err)
	}
	state := api.JobState(f[2])
	if !state.Terminal() {
		return entry{}, fmt.Errorf("index entry %q: state %q is not terminal", name, f[2])
	}
	jobName, truncated, err := unescapeName(f[4])
	if err != nil {
		return entry{}, fmt.Errorf("index entry %q: %w", name, err)
	}
	return entry{
		ID: f[1], State: state, Name: jobName, Truncated: truncated,
		Submitted: time.UnixMilli(sub).UTC(),
		Ended:     time.UnixMilli(maxMillis - inv).UTC(),
	}, nil
}

func clampMillis(t time.Time) int64 {
	return min(max(t.UnixMilli(), 0), maxMillis)
}

const hexDigits = "0123456789ABCDEF"

// escapeName keeps ASCII letters, digits and '-', writes every other byte
// as ~XX, and cuts the result at a character boundary to maxNameField
// bytes, marked by a final "~~".
func escapeName(s string) (string, bool) {
	var b strings.Builder
	cut := -1 // length of b before the first character that does not fit
	for _, r := range s {
		start := b.Len()
		var buf [utf8.UTFMax]byte
		for _, c := range buf[:utf8.EncodeRune(buf[:], r)] {
			switch {
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-':
				b.WriteByte(c)
			default:
				b.Write([]byte{'~', hexDigits[c>>4], hexDigits[c&15]})
			}
		}
		if cut < 0 && b.Len() > maxNameField-2 {
			cut = start
		}
	}
	out := b.String()
	if len(out) <= maxNameField {
		return out, false
	}
	return out[:cut] + "~~", true
}

// unescapeName reverses escapeName.
func unescapeName(s string) (string, bool, error) {
	truncated := strings.HasSuffix(s, "~~")
	if truncated {
		s = strings.TrimSuffix(s, "~~")
	}
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '~' {
			b = append(b, s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", false, fmt.Errorf("name %q: cut escape", s)
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", false, fmt.Errorf("name %q: bad escape %q", s, s[i:i+3])
		}
		b = append(b, byte(v))
		i += 2
	}
	if !utf8.Valid(b) { // escapeName writes only whole characters
		return "", false, fmt.Errorf("name %q: not UTF-8", s)
	}
	return string(b), truncated, nil
}
