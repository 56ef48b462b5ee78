package job

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"os"
	"path/filepath"
	"sort"

	"go.uber.org/zap"

	"github.com/taskfleet/taskfleet/pkg/collect"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// Window is one task's test window and its test IC.
type Window struct {
	Key    string  `json:"key"`
	TestIC float64 `json:"test_ic"`
	Rows   int     `json:"rows"`
}

// Collected is the outcome of the collection step.
type Collected struct {
	Windows  []Window          `json:"windows"`
	Groups   int               `json:"groups"`
	Ensemble collect.ICSummary `json:"-"`
	IC       float64           `json:"ic"`
	RankIC   float64           `json:"rank_ic"`
	ICIR     float64           `json:"icir"`
	RankICIR float64           `json:"rank_icir"`
	Rows     int               `json:"rows"`
	Output   string            `json:"output"`
	Signal   *SignalUpdate     `json:"signal,omitempty"`
	Pred     *collect.Frame    `json:"-"`
}

// Source adapts a pool to collect.Source: the done tasks matching q, in
// creation order, with their decoded results and their artifacts.
func Source(m *taskstate.Manager, q taskstate.Query) collect.Source {
	return collect.SourceFunc(func(ctx context.Context) iter.Seq2[collect.TaskResult, error] {
		return func(yield func(collect.TaskResult, error) bool) {
			q := q.Where(taskstate.FieldStatus, taskstate.OpEq, string(taskstate.StatusDone))
			for t, err := range m.Query(ctx, q, taskstate.QueryOptions{Payloads: true}) {
				if err != nil {
					yield(collect.TaskResult{}, err)
					return
				}
				res, err := m.DecodeRes(t)
				if err != nil {
					yield(collect.TaskResult{}, fmt.Errorf("task %s: result: %w", t.ID, err))
					return
				}
				arts, _ := res.(map[string]any)
				tr := collect.TaskResult{ID: t.ID, Def: t.Filter, Result: arts, Files: artifactFiles{m, t.ID}}
				if !yield(tr, nil) {
					return
				}
			}
		}
	})
}

// artifactFiles opens the artifacts of one task.
type artifactFiles struct {
	m  *taskstate.Manager
	id string
}

func (a artifactFiles) OpenFile(ctx context.Context, name string) (io.ReadCloser, int64, error) {
	rc, art, err := a.m.OpenArtifact(ctx, a.id, name)
	if errors.Is(err, taskstate.ErrArtifactNotFound) || errors.Is(err, taskstate.ErrNoArtifacts) {
		return nil, 0, fmt.Errorf("%w: %s", collect.ErrMissingArtifact, name)
	}
	if err != nil {
		return nil, 0, err
	}
	return rc, art.Size, nil
}

// Collect runs the collection: the pool collector keyed by cfg.Collect.Key
// (predictions from each task's pred artifact, or from its result),
// labels from cfg.Collect.LabelFile if set, RollingGroup (or none), the
// ensemble, the IC summary, and the output file.
func Collect(ctx context.Context, cfg *Config, m *taskstate.Manager, q taskstate.Query, log *zap.Logger) (*Collected, error) {
	read := collect.ReadOptions{MaxSize: cfg.Collect.MaxArtifactSize, MaxRows: cfg.Collect.MaxRows}
	pc := &collect.PoolCollector{
		Source: Source(m, q), KeyPaths: cfg.Collect.Key, Artifacts: []string{"pred"},
		Files: map[string][]string{"pred": cfg.Collect.PredArtifacts}, Read: read,
		OnlyExist: cfg.Collect.OnlyExist, Logger: log,
	}
	all, err := pc.Collect(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w%s", err, limitHint(err))
	}
	preds, _ := all[collect.StrKey("pred")].(collect.Collection)
	if len(preds) == 0 {
		return nil, fmt.Errorf("collect: no finished task of pool %s has predictions", cfg.Pool)
	}
	if cfg.Collect.LabelFile != "" {
		if err := joinLabels(ctx, cfg.Collect.LabelFile, read, preds); err != nil {
			return nil, err
		}
	}
	out := &Collected{}
	for _, k := range preds.Keys() {
		f, ok := frameOf(preds[k])
		if !ok {
			return nil, fmt.Errorf("collect: %s: pred is a %T: %w", k, preds[k], collect.ErrNotFrame)
		}
		win := Window{Key: k.String(), Rows: f.Len()}
		if f.HasLabel {
			ic, _ := f.IC() // has labels: cannot fail
			win.TestIC = finite(ic.IC)
		}
		out.Windows = append(out.Windows, win)
	}
	var frame *collect.Frame
	switch cfg.Collect.Group {
	case "rolling":
		groups, err := collect.RollingGroup{Ensemble: collect.RollingEnsemble{Logger: log}}.Apply(ctx, preds)
		if err != nil {
			return nil, fmt.Errorf("collect: rolling group: %w", err)
		}
		out.Groups = len(groups)
		frame, err = ensemble(cfg.Collect.Ensemble, groups, log)
		if err != nil {
			return nil, err
		}
	default:
		out.Groups = len(preds)
		frame, err = ensemble(cfg.Collect.Ensemble, preds, log)
		if err != nil {
			return nil, err
		}
	}
	out.Pred = frame
	out.Rows = frame.Len()
	if frame.HasLabel {
		ic, err := frame.IC()
		if err != nil {
			return nil, fmt.Errorf("collect: ensemble IC: %w", err)
		}
		out.Ensemble = ic
		out.IC, out.RankIC, out.ICIR, out.RankICIR = finite(ic.IC), finite(ic.RankIC), finite(ic.ICIR), finite(ic.RankICIR)
	}
	if err := write(cfg.Collect.Output, frame); err != nil {
		return nil, err
	}
	out.Output = cfg.Collect.Output
	if cfg.Collect.Signal != "" {
		if out.Signal, err = updateSignal(ctx, cfg.Collect.Signal, frame, cfg.Collect.OverwriteSignal, read); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// frameOf accepts a *Frame or a Frame value (as a gob-decoded result may
// hold).
func frameOf(v any) (*collect.Frame, bool) {
	switch f := v.(type) {
	case *collect.Frame:
		return f, f != nil
	case collect.Frame:
		return &f, true
	}
	return nil, false
}

// joinLabels replaces the labels of every frame of preds with those of the
// label file.
func joinLabels(ctx context.Context, path string, o collect.ReadOptions, preds collect.Collection) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("collect: label_file: %w", err)
	}
	defer f.Close()
	size := int64(-1)
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		size = st.Size()
	}
	o.Name = path
	labels, err := collect.ReadLabels(ctx, f, size, o)
	if err != nil {
		return fmt.Errorf("collect: label_file: %w%s", err, limitHint(err))
	}
	for k, v := range preds {
		if p, ok := frameOf(v); ok {
			preds[k] = p.WithLabels(labels)
		}
	}
	return nil
}

// limitHint tells which setting raises the limit an error is about.
func limitHint(err error) string {
	if errors.Is(err, collect.ErrFileTooLarge) {
		return " (raise collect.max_artifact_size or collect.max_rows)"
	}
	return ""
}

// ensemble combines a collection of frames into one.
func ensemble(kind string, c collect.Collection, log *zap.Logger) (*collect.Frame, error) {
	if len(c) == 1 && kind == "rolling" {
		for _, v := range c {
			if f, ok := v.(*collect.Frame); ok {
				return f, nil
			}
		}
	}
	var (
		f   *collect.Frame
		err error
	)
	if kind == "average" {
		f, err = collect.AverageEnsemble{}.Frame(c)
	} else {
		f, err = collect.RollingEnsemble{Logger: log}.Frame(c)
	}
	if err != nil {
		return nil, fmt.Errorf("collect: %s ensemble: %w", kind, err)
	}
	return f, nil
}

func write(path string, f *collect.Frame) error {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("collect: output: %w", err)
		}
	}
	// A temp file of its own, renamed over path: a reader, or another run
	// writing the same file, never sees a partial one.
	file, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("collect: output: %w", err)
	}
	tmp := file.Name()
	if filepath.Ext(path) == ".csv" {
		err = f.WriteCSV(file)
	} else {
		err = f.WriteParquet(file)
	}
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("collect: write %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

func finite(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return x
}

// sortWindows orders windows by key.
func sortWindows(ws []Window) {
	sort.Slice(ws, func(i, j int) bool { return ws[i].Key < ws[j].Key })
}
