package job_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/job"
	"github.com/taskfleet/taskfleet/pkg/collect"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// market is a small panel with a planted signal: labels by (day,
// instrument), and three monthly test windows.
type market struct {
	days    []time.Time
	insts   []string
	label   map[string]float64 // "2006-01-02/inst" → label
	windows [][2]string
}

func newMarket(t *testing.T) *market {
	t.Helper()
	mk := &market{label: map[string]float64{}, windows: [][2]string{
		{"2020-01-01", "2020-01-31"}, {"2020-02-01", "2020-02-29"}, {"2020-03-01", "2020-03-31"},
	}}
	for i := range 8 {
		mk.insts = append(mk.insts, fmt.Sprintf("SH60000%d", i))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for d := mustDate(t, "2020-01-01"); !d.After(mustDate(t, "2020-03-31")); d = d.AddDate(0, 0, 1) {
		if d.Weekday() == time.Saturday || d.Weekday() == time.Sunday {
			continue
		}
		mk.days = append(mk.days, d)
		for _, in := range mk.insts {
			mk.label[d.Format(time.DateOnly)+"/"+in] = rng.NormFloat64()
		}
	}
	return mk
}

// predictions returns a model's predictions of one window: the label plus
// noise, so the IC is clearly positive.
func (mk *market) predictions(t *testing.T, seed uint64, window [2]string, labeled bool) *collect.Frame {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 3))
	f := &collect.Frame{HasLabel: labeled}
	for _, d := range mk.days {
		if d.Before(mustDate(t, window[0])) || d.After(mustDate(t, window[1])) {
			continue
		}
		for _, in := range mk.insts {
			l := mk.label[d.Format(time.DateOnly)+"/"+in]
			r := collect.Row{Datetime: d, Instrument: in, Score: l + 1.5*rng.NormFloat64(), Label: math.NaN()}
			if labeled {
				r.Label = l
			}
			f.Rows = append(f.Rows, r)
		}
	}
	return f
}

// labelFile writes the market as a dataset panel (a feature column, then
// the label) and returns its path.
func (mk *market) labelFile(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("datetime,instrument,f1,label\n")
	for _, d := range mk.days {
		for _, in := range mk.insts {
			fmt.Fprintf(&b, "%s,%s,0.5,%v\n", d.Format(time.DateOnly), in, mk.label[d.Format(time.DateOnly)+"/"+in])
		}
	}
	p := filepath.Join(t.TempDir(), "panel.csv")
	require.NoError(t, os.WriteFile(p, []byte(b.String()), 0o644))
	return p
}

// doneTask is a finished task of a program kind: its def, its stored
// files and its JSON-like result.
type doneTask struct {
	model  string
	window [2]string
	files  map[string][]byte
	res    any
}

// finish creates each task in m, claims it, stores its files as artifacts
// and commits it done, as a worker does; it returns the task ids.
func finish(t *testing.T, m *taskstate.Manager, tasks ...doneTask) []string {
	t.Helper()
	ctx := context.Background()
	var ids []string
	for _, dt := range tasks {
		def := map[string]any{
			"model":   map[string]any{"class": dt.model},
			"dataset": map[string]any{"kwargs": map[string]any{"segments": map[string]any{"test": []any{dt.window[0], dt.window[1]}}}},
		}
		cr, err := m.Create(ctx, []taskstate.TaskSpec{{Kind: "python", Def: def}}, taskstate.CreateOptions{})
		require.NoError(t, err)
		claimed, err := m.Claim(ctx, taskstate.ClaimOptions{Kinds: []string{"python"}})
		require.NoError(t, err)
		require.Len(t, claimed, 1)
		task := claimed[0]
		require.Equal(t, cr.IDs[0], task.ID)
		for name, body := range dt.files {
			_, err := m.StageArtifact(ctx, task, name, bytes.NewReader(body), taskstate.ArtifactLimits{})
			require.NoError(t, err)
		}
		require.NoError(t, m.PromoteArtifacts(ctx, task))
		require.NoError(t, m.Commit(ctx, task, dt.res, taskstate.StatusDone))
		ids = append(ids, task.ID)
	}
	return ids
}

func csvBytes(t *testing.T, f *collect.Frame) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, f.WriteCSV(&b))
	return b.Bytes()
}

func parquetBytes(t *testing.T, f *collect.Frame) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, f.WriteParquet(&b))
	return b.Bytes()
}

// programTasks are two models × three windows: model XGB stores pred.csv,
// model LGB pred.parquet; results are what a Python program returns.
func programTasks(t *testing.T, mk *market, labeled bool) ([]doneTask, map[string]*collect.Frame) {
	t.Helper()
	var tasks []doneTask
	inputs := map[string]*collect.Frame{}
	for wi, w := range mk.windows {
		xgb := mk.predictions(t, uint64(10+wi), w, labeled)
		lgb := mk.predictions(t, uint64(20+wi), w, labeled)
		inputs["XGB/"+w[0]], inputs["LGB/"+w[0]] = xgb, lgb
		res := map[string]any{"metrics": map[string]any{"train_rows": 100}}
		tasks = append(tasks,
			doneTask{"XGB", w, map[string][]byte{"pred.csv": csvBytes(t, xgb), "model.json": []byte("{}")}, res},
			doneTask{"LGB", w, map[string][]byte{"pred.parquet": parquetBytes(t, lgb)}, res})
	}
	return tasks, inputs
}

// collectConfig is the demo config with its output in a temp dir.
func collectConfig(t *testing.T) *job.Config {
	t.Helper()
	cfg := loadDemo(t, "demo")
	cfg.Kind = "python"
	return cfg
}

func TestCollectPredictionArtifactsOfAnyKind(t *testing.T) {
	ctx := context.Background()
	mk := newMarket(t)
	rowsPerDay := len(mk.insts)

	// checkEnsemble asserts the ensembled predictions cover each test day ×
	// instrument exactly once and that every window was read as written.
	checkEnsemble := func(t *testing.T, col *job.Collected, inputs map[string]*collect.Frame) {
		t.Helper()
		require.Equal(t, 2, col.Groups)
		require.Len(t, col.Windows, 6)
		seen := map[string]int{}
		for _, r := range col.Pred.Rows {
			seen[r.Datetime.Format(time.DateOnly)+"/"+r.Instrument]++
		}
		require.Len(t, seen, len(mk.days)*rowsPerDay)
		for k, n := range seen {
			require.Equal(t, 1, n, "%s predicted %d times", k, n)
		}
		for _, w := range col.Windows {
			// Key: ("XGB", ["2020-01-01", "2020-01-31"]).
			var in *collect.Frame
			for name, f := range inputs {
				model, start, _ := strings.Cut(name, "/")
				if strings.Contains(w.Key, model) && strings.Contains(w.Key, start) {
					in = f
				}
			}
			require.NotNil(t, in, "window %s", w.Key)
			require.Equal(t, in.Len(), w.Rows, "window %s", w.Key)
			want, err := in.WithLabels(labelsOf(t, mk)).IC()
			require.NoError(t, err)
			require.InDelta(t, want.IC, w.TestIC, 1e-12, "window %s read back as written", w.Key)
			require.Greater(t, w.TestIC, 0.3, "window %s", w.Key)
		}
		require.Greater(t, col.IC, 0.4, "the planted signal")
		require.Greater(t, col.RankIC, 0.4)
	}

	t.Run("LabelsInArtifacts", func(t *testing.T) {
		cfg := collectConfig(t)
		m := manager(t, cfg.Pool)
		tasks, inputs := programTasks(t, mk, true)
		finish(t, m, tasks...)
		col, err := job.Collect(ctx, cfg, m, taskstate.Query{}, nil)
		require.NoError(t, err)
		checkEnsemble(t, col, inputs)

		// The output file reads back as the ensemble.
		data, err := os.ReadFile(cfg.Collect.Output)
		require.NoError(t, err)
		out, err := collect.ReadParquet(bytes.NewReader(data), int64(len(data)), collect.ReadOptions{Name: "out.parquet"})
		require.NoError(t, err)
		require.Equal(t, col.Rows, out.Len())
		require.True(t, out.HasLabel)
	})

	t.Run("LabelFile", func(t *testing.T) {
		cfg := collectConfig(t)
		m := manager(t, cfg.Pool)
		tasks, inputs := programTasks(t, mk, false)
		finish(t, m, tasks...)

		// Without labels there is nothing to score.
		col, err := job.Collect(ctx, cfg, m, taskstate.Query{}, nil)
		require.NoError(t, err)
		require.False(t, col.Pred.HasLabel)
		require.Zero(t, col.IC)

		cfg.Collect.LabelFile = mk.labelFile(t)
		col, err = job.Collect(ctx, cfg, m, taskstate.Query{}, nil)
		require.NoError(t, err)
		checkEnsemble(t, col, inputs)
	})

	t.Run("RollingEnsembleOfOneModel", func(t *testing.T) {
		cfg := collectConfig(t)
		cfg.Collect.Ensemble = "rolling"
		m := manager(t, cfg.Pool)
		tasks, _ := programTasks(t, mk, true)
		var xgb []doneTask
		for _, dt := range tasks {
			if dt.model == "XGB" {
				xgb = append(xgb, dt)
			}
		}
		finish(t, m, xgb...)
		col, err := job.Collect(ctx, cfg, m, taskstate.Query{}, nil)
		require.NoError(t, err)
		require.Equal(t, 1, col.Groups)
		require.Equal(t, len(mk.days)*rowsPerDay, col.Rows)
		require.Greater(t, col.IC, 0.3)
		require.Greater(t, col.ICIR, 0.0)
	})

	t.Run("ArtifactNamesFromConfig", func(t *testing.T) {
		cfg := collectConfig(t)
		cfg.Collect.PredArtifacts = []string{"scores.csv"}
		m := manager(t, cfg.Pool)
		f := mk.predictions(t, 1, mk.windows[0], true)
		finish(t, m, doneTask{"XGB", mk.windows[0], map[string][]byte{"scores.csv": csvBytes(t, f), "pred.csv": []byte("garbage")}, nil})
		col, err := job.Collect(ctx, cfg, m, taskstate.Query{}, nil)
		require.NoError(t, err, "pred.csv is not read when the config names scores.csv")
		require.Equal(t, f.Len(), col.Rows)
	})
}

func labelsOf(t *testing.T, mk *market) *collect.Labels {
	t.Helper()
	p := mk.labelFile(t)
	data, err := os.ReadFile(p)
	require.NoError(t, err)
	l, err := collect.ReadLabels(context.Background(), bytes.NewReader(data), int64(len(data)), collect.ReadOptions{Name: p})
	require.NoError(t, err)
	return l
}

// TestCollectBadArtifactNamesTaskArtifactAndLine: a malformed prediction
// artifact fails the collection with the task id, the artifact and the line
// (CSV) or row (Parquet).
func TestCollectBadArtifactNamesTaskArtifactAndLine(t *testing.T) {
	ctx := context.Background()
	mk := newMarket(t)
	good := mk.predictions(t, 1, mk.windows[0], true)
	dup := mk.predictions(t, 2, mk.windows[1], true)
	dup.Rows = append(dup.Rows, dup.Rows[3])
	big := mk.predictions(t, 3, [2]string{"2020-01-01", "2020-03-31"}, true)
	limit := int64(len(csvBytes(t, good)))

	for _, tc := range []struct {
		name  string
		files map[string][]byte
		res   any
		edit  func(*job.Config)
		want  string // after "collect: task <id>: "
	}{
		{name: "MissingColumn", files: map[string][]byte{"pred.csv": []byte("datetime,instrument,pred\n2020-02-03,A,1\n")},
			want: `pred.csv:1: missing column "score" (header: datetime,instrument,pred)`},
		{name: "BadDate", files: map[string][]byte{"pred.csv": []byte("datetime,instrument,score\n2020-02-03,A,1\n2020-02-31,A,1\n")},
			want: `pred.csv:3: column "datetime": bad date "2020-02-31"`},
		{name: "BadNumber", files: map[string][]byte{"pred.csv": []byte("datetime,instrument,score\n2020-02-03,A,0.1.2\n")},
			want: `pred.csv:2: column "score": bad number "0.1.2"`},
		{name: "DuplicateCSV", files: map[string][]byte{"pred.csv": csvBytes(t, dup)},
			want: fmt.Sprintf("pred.csv:%d: duplicate row for 2020-02-03 SH600003 (first at line 5)", len(dup.Rows)+1)},
		{name: "DuplicateParquet", files: map[string][]byte{"pred.parquet": parquetBytes(t, dup)},
			want: fmt.Sprintf("pred.parquet: row %d: duplicate row for 2020-02-03 SH600003 (first at row 4)", len(dup.Rows))},
		{name: "NotParquet", files: map[string][]byte{"pred.parquet": csvBytes(t, dup)},
			want: "pred.parquet: not a Parquet file"},
		{name: "TooLarge", files: map[string][]byte{"pred.csv": csvBytes(t, big)}, edit: func(c *job.Config) { c.Collect.MaxArtifactSize = limit },
			want: fmt.Sprintf("pred.csv: too large: %d bytes, over the limit of %d (raise collect.max_artifact_size or collect.max_rows)", len(csvBytes(t, big)), limit)},
		{name: "NoPredictions", files: map[string][]byte{"model.json": []byte("{}")}, res: map[string]any{"ic": 0.1},
			want: `artifact "pred" (no pred.parquet or pred.csv, and none in its result): collect: missing artifact`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := collectConfig(t)
			if tc.edit != nil {
				tc.edit(cfg)
			}
			m := manager(t, cfg.Pool)
			finish(t, m, doneTask{"XGB", mk.windows[0], map[string][]byte{"pred.csv": csvBytes(t, good)}, nil})
			ids := finish(t, m, doneTask{"XGB", mk.windows[1], tc.files, tc.res})
			_, err := job.Collect(ctx, cfg, m, taskstate.Query{}, nil)
			require.Error(t, err)
			require.Contains(t, err.Error(), "collect: task "+ids[0]+": "+tc.want)
		})
	}
}

func TestCollectConfigFields(t *testing.T) {
	base, err := os.ReadFile(repoFile(t, "examples/rolling/demo.yaml"))
	require.NoError(t, err)
	dir := t.TempDir()
	load := func(extra string) (*job.Config, error) {
		p := filepath.Join(dir, "job.yaml")
		require.NoError(t, os.WriteFile(p, []byte(strings.Replace(string(base), "collect:\n", "collect:\n"+extra, 1)), 0o644))
		return job.Load(p)
	}

	cfg, err := load("")
	require.NoError(t, err)
	require.Equal(t, []string{"pred.parquet", "pred.csv"}, cfg.Collect.PredArtifacts)
	require.Empty(t, cfg.Collect.LabelFile)

	cfg, err = load("  pred_artifacts: [scores.parquet]\n  label_file: data/panel.csv\n  max_artifact_size: 1000\n  max_rows: 10\n")
	require.NoError(t, err)
	require.Equal(t, []string{"scores.parquet"}, cfg.Collect.PredArtifacts)
	require.Equal(t, filepath.Join(dir, "data", "panel.csv"), cfg.Collect.LabelFile, "relative to the config")
	require.EqualValues(t, 1000, cfg.Collect.MaxArtifactSize)
	require.EqualValues(t, 10, cfg.Collect.MaxRows)

	for extra, want := range map[string]string{
		"  pred_artifacts: [pred.pkl]\n":       `collect.pred_artifacts[0]: "pred.pkl": want a .csv or .parquet name`,
		"  pred_artifacts: [a.csv, x/b.csv]\n": `collect.pred_artifacts[1]: taskstate: invalid artifact name: "x/b.csv": holds a path separator`,
		"  max_artifact_size: -1\n":            "collect.max_artifact_size: must be ≥ 0",
		"  max_rows: -5\n":                     "collect.max_rows: must be ≥ 0",
	} {
		_, err := load(extra)
		require.ErrorIs(t, err, job.ErrInvalidConfig)
		require.Contains(t, err.Error(), want)
	}
}
