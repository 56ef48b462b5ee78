package taskstate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Artifact errors. Test with errors.Is.
var (
	// ErrNoArtifacts is returned by a Manager whose store keeps no artifacts.
	ErrNoArtifacts = errors.New("taskstate: this store keeps no artifacts")
	// ErrInvalidArtifactName: an artifact name is not a plain file name.
	ErrInvalidArtifactName = errors.New("taskstate: invalid artifact name")
	// ErrArtifactTooLarge: an artifact, or the artifacts of one attempt
	// together, are over their limit. Nothing of the artifact being written
	// is kept. Retrying cannot help: the caller fails the task for good.
	ErrArtifactTooLarge = errors.New("taskstate: artifact too large")
	// ErrArtifactNotFound: the task has no committed artifact of that name.
	ErrArtifactNotFound = errors.New("taskstate: artifact not found")
)

// Default artifact limits.
const (
	// DefaultMaxArtifactSize bounds one artifact: 2 GiB.
	DefaultMaxArtifactSize int64 = 2 << 30
	// DefaultMaxTaskArtifacts bounds the artifacts of one attempt
	// together: 4 GiB.
	DefaultMaxTaskArtifacts int64 = 4 << 30
	// MaxArtifactNameLen is the longest artifact name, in bytes.
	MaxArtifactNameLen = 255
)

// Artifact describes one stored file of a task: predictions, a model, a
// report, written by an attempt next to its result.
type Artifact struct {
	TaskID string
	Name   string
	Size   int64
	// SHA256 is the lower-case hex SHA-256 of the content, computed while
	// it was streamed in.
	SHA256 string
	// Attempt is the attempt (the task's attempts count when it was
	// written) that wrote it.
	Attempt   int
	CreatedAt time.Time
}

// ArtifactLimits bound what an attempt may store. Zero fields take the
// defaults; a negative field means no limit.
type ArtifactLimits struct {
	// MaxSize bounds one artifact. Default DefaultMaxArtifactSize.
	MaxSize int64
	// MaxTotal bounds the staged artifacts of one attempt together (an
	// artifact staged again under the same name counts once). Default
	// DefaultMaxTaskArtifacts.
	MaxTotal int64
}

// Resolved returns l with its defaults filled in and "no limit" as the
// largest int64.
func (l ArtifactLimits) Resolved() ArtifactLimits {
	fix := func(v, def int64) int64 {
		switch {
		case v == 0:
			return def
		case v < 0:
			return 1<<63 - 1
		}
		return v
	}
	return ArtifactLimits{MaxSize: fix(l.MaxSize, DefaultMaxArtifactSize), MaxTotal: fix(l.MaxTotal, DefaultMaxTaskArtifacts)}
}

// ValidateArtifactName returns an error wrapping ErrInvalidArtifactName
// unless name can be used as a file name in any directory: 1 to 255 bytes
// of printable UTF-8 (spaces allowed), no path separator ('/' or '\'), and
// not "." or "..". (Without a separator, those two are the only names that
// leave the directory; "a..b" is a fine file name.)
func ValidateArtifactName(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w: %q: %s", ErrInvalidArtifactName, name, why)
	}
	switch {
	case name == "":
		return bad("empty")
	case len(name) > MaxArtifactNameLen:
		return bad(fmt.Sprintf("longer than %d bytes", MaxArtifactNameLen))
	case name == "." || name == "..":
		return bad("not a file name")
	case strings.ContainsAny(name, `/\`):
		return bad("holds a path separator")
	case !utf8.ValidString(name):
		return bad("not UTF-8")
	case strings.ContainsFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }):
		return bad("holds a character that is not printable")
	}
	return nil
}

// ArtifactStore is the role of a Store that keeps task artifacts. Both
// backends implement it.
//
// Artifacts are streamed: a write reads its body piece by piece (1 MiB at
// a time) and a read hands out one piece at a time, so neither side holds
// an artifact whole in memory.
//
// An attempt's artifacts are fenced by its lease token and committed with
// its result:
//
//  1. StageArtifact writes an artifact under (task, lease token). Staged
//     artifacts are invisible to ListArtifacts and OpenArtifact. It fails
//     with ErrLeaseLost as soon as the task is no longer running under the
//     token (it checks while it writes), and with ErrArtifactTooLarge over
//     a limit; either way nothing of that artifact is left.
//  2. PromoteArtifacts, called before the result is committed, replaces
//     the task's committed artifacts with the staged ones of the token,
//     only if the task is still running under it. Otherwise it discards
//     them and returns ErrLeaseLost. A retried attempt's artifacts thus
//     replace the first's, never mixed with them.
//  3. DiscardStaged drops the staged artifacts of a token (an attempt that
//     failed or lost its lease); CleanupStaged drops, for a whole pool,
//     every staged artifact whose token is not the current lease of a
//     running task (what a crashed worker left), for the reaper.
//
// A task's artifacts live as long as the task: Store.Delete removes them,
// and Store.Update to waiting (a reset) removes them too.
type ArtifactStore interface {
	// StageArtifact streams Body into a staged artifact of the task under
	// Token and returns its description. A staged artifact of the same
	// name and token is replaced.
	StageArtifact(ctx context.Context, p StageArtifactParams) (Artifact, error)
	// PromoteArtifacts commits the staged artifacts of Token in place of
	// the task's committed ones, or, when the task is no longer running
	// under Token, discards them and returns an error wrapping
	// ErrLeaseLost.
	PromoteArtifacts(ctx context.Context, p ArtifactLeaseParams) error
	// DiscardStaged removes the staged artifacts of the task under Token.
	DiscardStaged(ctx context.Context, p ArtifactLeaseParams) error
	// CleanupStaged removes, in the pool, the staged artifacts (and any
	// pieces of unfinished ones) whose token is not the lease of a running
	// task, and returns how many artifacts it removed.
	CleanupStaged(ctx context.Context, p CleanupStagedParams) (int64, error)
	// ListArtifacts returns the committed artifacts of a task, by name.
	// None is not an error.
	ListArtifacts(ctx context.Context, p ListArtifactsParams) ([]Artifact, error)
	// OpenArtifact returns a reader of a committed artifact, or an error
	// wrapping ErrArtifactNotFound. The caller closes it. A read that
	// finds the artifact removed meanwhile fails rather than return a
	// short file.
	OpenArtifact(ctx context.Context, p OpenArtifactParams) (io.ReadCloser, Artifact, error)
	// DeleteArtifacts removes every artifact, committed or staged, of the
	// given tasks.
	DeleteArtifacts(ctx context.Context, p DeleteArtifactsParams) error
}

// StageArtifactParams are the arguments of ArtifactStore.StageArtifact.
type StageArtifactParams struct {
	Pool  string
	ID    string // the task
	Token string // its lease token
	Name  string // checked by ValidateArtifactName
	Body  io.Reader
	// Limits are the limits to apply (Resolved by the store).
	Limits ArtifactLimits
	Now    time.Time
}

// ArtifactLeaseParams name the artifacts of one attempt: a task and the
// lease token it ran under.
type ArtifactLeaseParams struct {
	Pool  string
	ID    string
	Token string
}

// CleanupStagedParams are the arguments of ArtifactStore.CleanupStaged.
type CleanupStagedParams struct {
	Pool string
}

// ListArtifactsParams are the arguments of ArtifactStore.ListArtifacts.
type ListArtifactsParams struct {
	Pool string
	ID   string
}

// OpenArtifactParams are the arguments of ArtifactStore.OpenArtifact.
type OpenArtifactParams struct {
	Pool string
	ID   string
	Name string
}

// DeleteArtifactsParams are the arguments of ArtifactStore.DeleteArtifacts.
type DeleteArtifactsParams struct {
	Pool string
	IDs  []string
}

func (m *Manager) artifactStore() (ArtifactStore, error) {
	as, ok := m.store.(ArtifactStore)
	if !ok {
		return nil, ErrNoArtifacts
	}
	return as, nil
}

// StageArtifact streams body into a staged artifact of the running task t
// (under its lease). It becomes visible when PromoteArtifacts commits it.
// Over a limit the error wraps ErrArtifactTooLarge (fail the task, do not
// retry it); a lost lease gives ErrLeaseLost.
func (m *Manager) StageArtifact(ctx context.Context, t *Task, name string, body io.Reader, lim ArtifactLimits) (Artifact, error) {
	as, err := m.artifactStore()
	if err != nil {
		return Artifact{}, err
	}
	if err := ValidateArtifactName(name); err != nil {
		return Artifact{}, err
	}
	start := time.Now()
	a, err := as.StageArtifact(ctx, StageArtifactParams{Pool: m.pool, ID: t.ID, Token: t.Lease.Token, Name: name, Body: body, Limits: lim, Now: m.cfg.Now()})
	m.observe("stage_artifact", start, err)
	if err != nil {
		return Artifact{}, fmt.Errorf("taskstate: store artifact %q of task %s: %w", name, t.ID, err)
	}
	return a, nil
}

// PromoteArtifacts commits the staged artifacts of the running task t in
// place of its committed ones. Call it just before committing the result:
// if the lease is lost in between, the next attempt's promote replaces
// them (and on SQLite the task's move back to waiting removes them).
func (m *Manager) PromoteArtifacts(ctx context.Context, t *Task) error {
	as, err := m.artifactStore()
	if err != nil {
		return err
	}
	start := time.Now()
	err = as.PromoteArtifacts(ctx, ArtifactLeaseParams{Pool: m.pool, ID: t.ID, Token: t.Lease.Token})
	m.observe("promote_artifacts", start, err)
	if err != nil {
		return fmt.Errorf("taskstate: commit artifacts of task %s: %w", t.ID, err)
	}
	return nil
}

// DiscardStaged drops the staged artifacts of the attempt t (one that
// failed or lost its lease).
func (m *Manager) DiscardStaged(ctx context.Context, t *Task) error {
	as, err := m.artifactStore()
	if err != nil {
		return err
	}
	return as.DiscardStaged(ctx, ArtifactLeaseParams{Pool: m.pool, ID: t.ID, Token: t.Lease.Token})
}

// CleanupStaged drops the pool's staged artifacts whose attempt no longer
// holds its task's lease, and returns how many it dropped. The reaper
// calls it.
func (m *Manager) CleanupStaged(ctx context.Context) (int64, error) {
	as, err := m.artifactStore()
	if err != nil {
		return 0, err
	}
	start := time.Now()
	n, err := as.CleanupStaged(ctx, CleanupStagedParams{Pool: m.pool})
	m.observe("cleanup_artifacts", start, err)
	return n, err
}

// Artifacts returns the committed artifacts of a task, by name.
func (m *Manager) Artifacts(ctx context.Context, id string) ([]Artifact, error) {
	as, err := m.artifactStore()
	if err != nil {
		return nil, err
	}
	return as.ListArtifacts(ctx, ListArtifactsParams{Pool: m.pool, ID: id})
}

// OpenArtifact returns a reader of a committed artifact of a task; the
// caller closes it.
func (m *Manager) OpenArtifact(ctx context.Context, id, name string) (io.ReadCloser, Artifact, error) {
	as, err := m.artifactStore()
	if err != nil {
		return nil, Artifact{}, err
	}
	if err := ValidateArtifactName(name); err != nil {
		return nil, Artifact{}, err
	}
	return as.OpenArtifact(ctx, OpenArtifactParams{Pool: m.pool, ID: id, Name: name})
}

// CopyArtifact writes a committed artifact of a task to w and returns its
// description.
func (m *Manager) CopyArtifact(ctx context.Context, id, name string, w io.Writer) (Artifact, error) {
	rc, a, err := m.OpenArtifact(ctx, id, name)
	if err != nil {
		return Artifact{}, err
	}
	defer rc.Close()
	if _, err := io.Copy(w, rc); err != nil {
		return Artifact{}, fmt.Errorf("taskstate: read artifact %q of task %s: %w", name, id, err)
	}
	return a, rc.Close()
}

// DeleteArtifacts removes every artifact of the given tasks.
func (m *Manager) DeleteArtifacts(ctx context.Context, ids ...string) error {
	as, err := m.artifactStore()
	if err != nil {
		return err
	}
	return as.DeleteArtifacts(ctx, DeleteArtifactsParams{Pool: m.pool, IDs: ids})
}
