package job_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/job"
	"github.com/taskfleet/taskfleet/internal/yamlpos"
)

const qrunDoc = `qlib_init: {provider_uri: ~/.qlib/qlib_data/cn_data, region: cn}
market: &market csi300
data_handler_config: &dhc
  start_time: 2019-01-01
  end_time: 2020-06-30
  instruments: *market
task:
  model: {class: XGBModel, module_path: qlib.contrib.model.xgboost, kwargs: {max_depth: 3}}
  dataset:
    class: DatasetH
    kwargs:
      handler:
        class: Alpha158
        kwargs:
          <<: *dhc
          fit_end_time: 2019-12-31
      segments:
        train: [2019-01-01, 2019-12-31]
        valid: [2020-01-01, 2020-03-31]
        test: [2020-04-01, null]
  record: [{class: SignalRecord}]
taskfleet:
  pool: qrun_unit
  calendar: {start: 2018-12-03, end: 2020-12-31}
  generators: [{type: rolling, step: 60}]
  kind: train
  collect: {ensemble: average}
`

func TestParseQrun(t *testing.T) {
	file := filepath.Join(t.TempDir(), "workflow.yaml")
	cfg, err := job.Parse([]byte(qrunDoc), file)
	require.NoError(t, err)
	require.Equal(t, "qrun_unit", cfg.Pool)
	require.Equal(t, "train", cfg.Kind)
	require.Equal(t, "average", cfg.Collect.Ensemble)
	require.NotNil(t, cfg.Qrun)
	require.Equal(t, []string{"data_handler_config", "market", "qlib_init"}, cfg.Qrun.TopLevel)
	require.Equal(t, []string{
		"dataset.class", "dataset.kwargs.handler.class", "dataset.kwargs.handler.kwargs.fit_end_time",
		"dataset.kwargs.handler.kwargs.instruments", "dataset.kwargs.handler.kwargs.start_time", "model", "record",
	}, cfg.Qrun.KeptInDefs)

	specs, docs, err := cfg.Specs()
	require.NoError(t, err)
	require.Len(t, specs, 4, "test windows of 60 trading days from 2020-04-01 to the end of 2020")
	for i, d := range docs {
		require.Equal(t, "train", specs[i].Kind)
		h := d["dataset"].(map[string]any)["kwargs"].(map[string]any)["handler"].(map[string]any)["kwargs"].(map[string]any)
		require.Equal(t, "csi300", h["instruments"], "the merge key <<: *dhc, expanded")
		require.Equal(t, "2019-12-31", h["fit_end_time"], "a key next to the merge key")
		require.Equal(t, "2019-01-01", h["start_time"])
		require.NotContains(t, d["dataset"].(map[string]any)["kwargs"], "data", "no dataset: the def is Qlib's task dict")
		require.Equal(t, map[string]any{"class": "XGBModel", "module_path": "qlib.contrib.model.xgboost", "kwargs": map[string]any{"max_depth": uint64(3)}}, d["model"])
	}
	seg := docs[1]["dataset"].(map[string]any)["kwargs"].(map[string]any)["segments"].(map[string]any)
	require.Equal(t, []any{"2020-06-24", "2020-09-15"}, seg["test"])
	require.Equal(t, []any{"2019-01-01", "2020-03-24"}, seg["train"], "expanding by default")
}

func TestParseQrunErrors(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct{ old, new, want string }{
		"no task":       {"task:\n", "tasks:\n", ": task: want Qlib's task: a map with model, dataset and record"},
		"tasks here":    {"  kind: train\n", "  kind: train\n  tasks: []\n", ":27: taskfleet.tasks: the task template is the file's task:"},
		"task no model": {"  model: {class", "  modelx: {class", ":8: task.model: want a map"},
		"bad group":     {"{ensemble: average}", "{group: sideways}", ":27: taskfleet.collect.group: unknown group"},
		"section list":  {"taskfleet:\n  pool: qrun_unit\n", "taskfleet: [1]\nx:\n  pool: qrun_unit\n", ":22: taskfleet: want a map"},
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".yaml")
		require.NoError(t, os.WriteFile(p, []byte(strings.Replace(qrunDoc, tc.old, tc.new, 1)), 0o644))
		_, err := job.Load(p)
		require.ErrorIs(t, err, job.ErrInvalidConfig, name)
		require.Contains(t, err.Error(), p+tc.want, name)
	}
}

func TestParseBoundsAliases(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i <= 8; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d, ", i-1), 10), ", "))
	}
	b.WriteString(strings.Replace(qrunDoc, "  record: [{class: SignalRecord}]", "  record: *a8", 1))
	_, err := job.Parse([]byte(b.String()), "bomb.yaml")
	require.ErrorIs(t, err, job.ErrInvalidConfig)
	require.ErrorIs(t, err, yamlpos.ErrTooComplex)
	require.ErrorContains(t, err, "bomb.yaml: ")
}
