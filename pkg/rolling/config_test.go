package rolling

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, string(want), string(got))
}

func TestGenConfigGolden(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"gen", "gen_business"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, err := LoadGenConfig(filepath.Join("testdata", name+".yaml"))
			require.NoError(t, err)
			tasks, err := c.Build()
			require.NoError(t, err)

			var table, js bytes.Buffer
			require.NoError(t, WriteTable(&table, tasks, c.SegmentsPath()))
			require.NoError(t, WriteJSON(&js, tasks))
			golden(t, name+".table.golden", table.Bytes())
			golden(t, name+".json.golden", js.Bytes())

			// The JSON is an array of the full documents, dates as strings
			// and open ends as null.
			var docs []map[string]any
			require.NoError(t, json.Unmarshal(js.Bytes(), &docs))
			require.Equal(t, NormalizeTasks(tasks), docs)
		})
	}
}

// In gen.yaml the calendar ends its data on 03-13 and the LGB test end is
// open: test windows [21, 30], [31, 40], [41, 50] (the last starts 03-03 <=
// 03-13 and ends past it), each with horizons 1 and 5; the XGB test ends
// 02-29 (aligned 02-28): two windows. handler_mod extends LGB's end_time
// (02-01) to each test end and leaves XGB's 12-31 alone.
func TestGenConfigGenYAML(t *testing.T) {
	t.Parallel()
	c, err := LoadGenConfig("testdata/gen.yaml")
	require.NoError(t, err)
	tasks, err := c.Build()
	require.NoError(t, err)
	require.Len(t, tasks, 10)
	require.Equal(t, []string{
		"train=[2020-01-06, 2020-01-24] valid=[2020-01-27, 2020-01-30] test=[2020-02-03, 2020-02-14] end_time=2020-02-14",
		"train=[2020-01-06, 2020-01-24] valid=[2020-01-24, 2020-01-24] test=[2020-02-03, 2020-02-14] end_time=2020-02-14",
		"train=[2020-01-21, 2020-02-07] valid=[2020-02-10, 2020-02-13] test=[2020-02-18, 2020-03-02] end_time=2020-03-02",
		"train=[2020-01-21, 2020-02-07] valid=[2020-02-07, 2020-02-07] test=[2020-02-18, 2020-03-02] end_time=2020-03-02",
		"train=[2020-02-04, 2020-02-24] valid=[2020-02-25, 2020-02-28] test=[2020-03-03, 2020-03-16] end_time=2020-03-16",
		"train=[2020-02-04, 2020-02-24] valid=[2020-02-24, 2020-02-24] test=[2020-03-03, 2020-03-16] end_time=2020-03-16",
		"train=[2020-01-06, 2020-01-24] valid=[2020-01-27, 2020-01-30] test=[2020-02-03, 2020-02-14] end_time=2020-12-31",
		"train=[2020-01-06, 2020-01-24] valid=[2020-01-24, 2020-01-24] test=[2020-02-03, 2020-02-14] end_time=2020-12-31",
		"train=[2020-01-21, 2020-02-07] valid=[2020-02-10, 2020-02-13] test=[2020-02-18, 2020-03-02] end_time=2020-12-31",
		"train=[2020-01-21, 2020-02-07] valid=[2020-02-07, 2020-02-07] test=[2020-02-18, 2020-03-02] end_time=2020-12-31",
	}, windows(t, tasks))
	// Placeholders are kept for the runner to fill.
	v, _ := GetPath(tasks[0], "dataset.kwargs.handler.kwargs.fit_start_time")
	require.Equal(t, "<dataset.kwargs.segments.train.0>", v)
}

func TestGenConfigFollowing(t *testing.T) {
	t.Parallel()
	c, err := LoadGenConfig("testdata/gen.yaml")
	require.NoError(t, err)
	tasks, err := c.Build()
	require.NoError(t, err)
	// The latest test segment is [03-03, 03-16] (two LGB tasks, one per
	// horizon); up to the last data day 03-13 nothing is due. Without the
	// last data day, up to 03-31: train [22, 35] + 10 = [32, 45], test
	// [51, 60], then train [42, 55], test [61, 70] (open), for each task in
	// turn.
	got, err := c.Following(tasks, d(t, "2020-03-13"))
	require.NoError(t, err)
	require.Empty(t, got)
	got, err = c.Following(tasks, d(t, "2020-03-31"))
	require.NoError(t, err)
	require.Empty(t, got, "the end is clamped to the last data day")

	c2 := *c
	c2.Calendar.LastDataDay = ""
	got, err = c2.Following(tasks, d(t, "2020-03-31"))
	require.NoError(t, err)
	require.Equal(t, []string{
		"train=[2020-02-19, 2020-03-09] valid=[2020-03-10, 2020-03-13] test=[2020-03-17, 2020-03-30] end_time=2020-03-30",
		"train=[2020-03-04, 2020-03-23] valid=[2020-03-24, 2020-03-27] test=[2020-03-31, null] end_time=null",
		"train=[2020-02-19, 2020-03-09] valid=[2020-03-09, 2020-03-09] test=[2020-03-17, 2020-03-30] end_time=2020-03-30",
		"train=[2020-03-04, 2020-03-23] valid=[2020-03-23, 2020-03-23] test=[2020-03-31, null] end_time=null",
	}, windows(t, got))

	c3 := *c
	c3.Generators = c.Generators[1:]
	_, err = c3.Following(tasks, d(t, "2020-03-31"))
	require.ErrorIs(t, err, ErrInvalidConfig)
	require.ErrorContains(t, err, "following needs exactly one rolling generator, found 0")
}

const goodTasks = `tasks:
  - model: {class: M}
    dataset:
      kwargs:
        segments:
          train: [2020-01-03, 2020-01-31]
          test: [2020-02-03, 2020-02-28]
`

func TestGenConfigErrors(t *testing.T) {
	t.Parallel()
	cal := "calendar: {start: 2020-01-01, end: 2020-03-31}\n"
	for _, tc := range []struct {
		name   string
		yaml   string
		files  map[string]string // extra files in the config's directory
		strict bool
		want   string // the message after the directory prefix
	}{
		{
			name: "unknown generator type",
			yaml: cal + goodTasks + "generators:\n  - type: rolling\n  - type: expanding\n",
			want: `config.yaml:11: generators[1].type: unknown generator type "expanding": want "rolling" or "multi_horizon"`,
		},
		{
			name: "missing generator type",
			yaml: cal + goodTasks + "generators:\n  - step: 5\n",
			want: `config.yaml:10: generators[0]: missing type`,
		},
		{
			name: "step 0",
			yaml: cal + goodTasks + "generators:\n  - type: rolling\n    step: 0\n",
			want: "config.yaml:11: generators[0].step: must be > 0, got 0",
		},
		{
			name: "negative step",
			yaml: cal + goodTasks + "generators:\n  - {type: rolling, step: -3}\n",
			want: "config.yaml:10: generators[0].step: must be > 0, got -3",
		},
		{
			name: "bad step string",
			yaml: cal + goodTasks + "generators:\n  - {type: rolling, step: 1X}\n",
			want: `config.yaml:10: generators[0].step: bad step "1X": want a number of trading days or a period such as 1W or 1M`,
		},
		{
			name: "fractional step",
			yaml: cal + goodTasks + "generators:\n  - {type: rolling, step: 1.5}\n",
			want: "config.yaml:10: generators[0].step: bad step 1.5",
		},
		{
			name: "bad rtype",
			yaml: cal + goodTasks + "generators:\n  - {type: rolling, rtype: rolling}\n",
			want: `config.yaml:10: generators[0].rtype: unknown roll type "rolling": want "expanding" or "sliding"`,
		},
		{
			name: "trunc_days 0",
			yaml: cal + goodTasks + "generators:\n  - type: rolling\n    trunc_days: 0\n",
			want: "config.yaml:11: generators[0].trunc_days: must be ≥ 1, got 0 (omit trunc_days to disable truncation)",
		},
		{
			name: "trunc_days not a number",
			yaml: cal + goodTasks + "generators:\n  - type: rolling\n    trunc_days: two\n",
			want: `config.yaml:11: generators[0].trunc_days: want an integer, got "two"`,
		},
		{
			name: "horizons on a rolling generator",
			yaml: cal + goodTasks + "generators:\n  - type: rolling\n    horizons: [5]\n",
			want: "config.yaml:11: generators[0].horizons: not a setting of a rolling generator",
		},
		{
			name: "step on a multi_horizon generator",
			yaml: cal + goodTasks + "generators:\n  - type: multi_horizon\n    step: 5\n",
			want: "config.yaml:11: generators[0].step: not a setting of a multi_horizon generator",
		},
		{
			name: "horizon 0",
			yaml: cal + goodTasks + "generators:\n  - type: multi_horizon\n    horizons: [5, 0]\n",
			want: "config.yaml:11: generators[0].horizons[1]: must be > 0, got 0",
		},
		{
			name: "empty set path element",
			yaml: cal + goodTasks + "generators:\n  - type: multi_horizon\n    set:\n      model..h: \"{h}\"\n",
			want: `config.yaml:12: generators[0].set.model..h: bad path "model..h": empty element`,
		},
		{
			name: "unknown generator key",
			yaml: cal + goodTasks + "generators:\n  - type: rolling\n    stepp: 5\n",
			want: `config.yaml:11: generators[0].stepp: unknown key "stepp"`,
		},
		{
			name: "unknown calendar key",
			yaml: "calendar:\n  start: 2020-01-01\n  ends: 2020-03-31\n" + goodTasks,
			want: `config.yaml:3: calendar.ends: unknown key "ends"`,
		},
		{
			name:   "unknown top-level key in strict mode",
			yaml:   cal + "pool: rolling\n" + goodTasks,
			strict: true,
			want:   `config.yaml:2: pool: unknown key "pool"`,
		},
		{
			name: "unparsable calendar date",
			yaml: "calendar:\n  start: 2020-01-01\n  end: 2020-13-31\n" + goodTasks + "generators: [{type: rolling}]\n",
			want: `config.yaml:3: calendar.end: bad date "2020-13-31"`,
		},
		{
			name: "unparsable holiday",
			yaml: "calendar:\n  start: 2020-01-01\n  end: 2020-03-31\n  holidays:\n    - 2020-01-01\n    - 2020-02-30\n" + goodTasks + "generators: [{type: rolling}]\n",
			want: `config.yaml:6: calendar.holidays[1]: bad date "2020-02-30"`,
		},
		{
			name: "unparsable segment date",
			yaml: cal + strings.Replace(goodTasks, "2020-02-28", "2020-02-30", 1) + "generators: [{type: rolling}]\n",
			want: `config.yaml:8: tasks[0].dataset.kwargs.segments.test[1]: bad date "2020-02-30"`,
		},
		{
			name: "segment outside the calendar",
			yaml: cal + strings.Replace(goodTasks, "[2020-02-03, 2020-02-28]", "[2020-05-04, null]", 1) + "generators: [{type: rolling}]\n",
			want: "config.yaml:8: tasks[0].dataset.kwargs.segments.test[0]: rolling: date outside the calendar: 2020-05-04 is after the calendar's last day 2020-03-31",
		},
		{
			name: "template error from the second generator",
			yaml: cal + strings.Replace(goodTasks, "[2020-01-03, 2020-01-31]", "[2020-01-03, null]", 1) + "generators: [{type: rolling}, {type: multi_horizon}]\n",
			want: "config.yaml:7: tasks[0].dataset.kwargs.segments.train[1]: open end",
		},
		{
			name:  "calendar file with a bad line",
			yaml:  "calendar: {file: cal.txt}\n" + goodTasks + "generators: [{type: rolling}]\n",
			files: map[string]string{"cal.txt": "2020-01-02\n2020-01-03\n2020-13-01\n"},
			want:  `cal.txt:3: bad date "2020-13-01"`,
		},
		{
			name: "missing calendar file",
			yaml: "calendar:\n  file: nope.txt\n" + goodTasks + "generators: [{type: rolling}]\n",
			want: "config.yaml:2: calendar.file:",
		},
		{
			name:  "holidays file with a bad line",
			yaml:  "calendar: {start: 2020-01-01, end: 2020-03-31, holidays_file: h.csv}\n" + goodTasks + "generators: [{type: rolling}]\n",
			files: map[string]string{"h.csv": "date,name\n2020-01-01,New Year\n01/20/2020,MLK\n"},
			want:  `h.csv:3: bad date "01/20/2020"`,
		},
		{
			name: "calendar file and start",
			yaml: "calendar:\n  file: cal.txt\n  start: 2020-01-01\n" + goodTasks,
			want: "config.yaml:3: calendar.start: not allowed with calendar.file",
		},
		{
			name: "no calendar",
			yaml: goodTasks + "generators: [{type: rolling}]\n",
			want: "config.yaml: calendar: set calendar.file, or calendar.start and calendar.end",
		},
		{
			name: "last data day before the calendar",
			yaml: "calendar: {start: 2020-01-01, end: 2020-03-31, last_data_day: 2019-12-31}\n" + goodTasks + "generators: [{type: rolling}]\n",
			want: "config.yaml:1: calendar.last_data_day: rolling: date outside the calendar: last data day 2019-12-31 is before the calendar's first day 2020-01-01",
		},
		{
			name: "no tasks",
			yaml: cal + "tasks: []\n",
			want: "config.yaml:2: tasks: at least one task template is required",
		},
		{
			name: "wrong type in a list",
			yaml: cal + goodTasks + "generators:\n  - type: multi_horizon\n    horizons: [5, ten]\n",
			want: `config.yaml:11: generators[0].horizons[1]: want an integer, got "ten"`,
		},
		{
			name: "tasks not a list",
			yaml: cal + "tasks: {model: x}\n",
			want: `config.yaml:2: tasks: mapping was used where sequence is expected`,
		},
		{
			name: "YAML syntax error",
			yaml: cal + "tasks:\n  - model: {class: M\n",
			want: "config.yaml:3:",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for name, content := range tc.files {
				require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600))
			}
			path := filepath.Join(dir, "config.yaml")
			c, err := ParseGenConfig([]byte(tc.yaml), path, tc.strict)
			if err == nil {
				_, err = c.Build()
			}
			require.Error(t, err)
			require.ErrorIs(t, err, ErrInvalidConfig)
			msg := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "")
			require.Contains(t, msg, tc.want)
			require.True(t, strings.HasPrefix(msg, strings.SplitN(tc.want, ":", 2)[0]+":"), "message %q should start with the file name", msg)
		})
	}
}

func TestGenConfigRunEmbedding(t *testing.T) {
	t.Parallel()
	// The run config holds the same keys plus its own; non-strict parsing
	// ignores the others.
	doc := "pool: rolling\nstore: sqlite://x.db\ncalendar: {start: 2020-01-01, end: 2020-03-31}\n" + goodTasks +
		"generators: [{type: rolling, step: 10}]\ncollect: {artifacts: [pred]}\n"
	c, err := ParseGenConfig([]byte(doc), "run.yaml", false)
	require.NoError(t, err)
	tasks, err := c.Build()
	require.NoError(t, err)
	require.Len(t, tasks, 2)
	_, err = ParseGenConfig([]byte(doc), "run.yaml", true)
	require.ErrorContains(t, err, `run.yaml:1: pool: unknown key "pool"`)
}

func TestGenConfigWithoutGenerators(t *testing.T) {
	t.Parallel()
	c, err := ParseGenConfig([]byte(goodTasks), "c.yaml", true)
	require.NoError(t, err)
	tasks, err := c.Build()
	require.NoError(t, err)
	require.Equal(t, []string{"train=[2020-01-03, 2020-01-31] test=[2020-02-03, 2020-02-28]"}, windows(t, tasks))
}

func TestLoadGenConfigMissing(t *testing.T) {
	t.Parallel()
	_, err := LoadGenConfig(filepath.Join(t.TempDir(), "none.yaml"))
	require.ErrorIs(t, err, ErrInvalidConfig)
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestParseStep(t *testing.T) {
	t.Parallel()
	for in, want := range map[any]string{40: "40", uint64(5): "5", "20": "20", "20d": "20", "1M": "1M", "2w": "2W", "Q": "1Q", "1Y": "1Y"} {
		s := ParseStep(in)
		require.NoError(t, s.Err(), in)
		require.Equal(t, want, s.String())
	}
	for _, in := range []any{0, -1, "0M", "abc", 2.5, nil, "-3"} {
		require.Error(t, ParseStep(in).Err(), in)
	}
}
