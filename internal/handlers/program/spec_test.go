package program_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/handlers/program"
)

var builtins = []string{"linear", "noop", "sleep"}

func TestParseFlag(t *testing.T) {
	t.Parallel()
	s, err := program.ParseFlag(`train=python3 examples/qlib/train.py --config 'my config.yaml'`)
	require.NoError(t, err)
	require.Equal(t, program.Spec{Name: "train", Command: []string{"python3", "examples/qlib/train.py", "--config", "my config.yaml"}}, s)

	s, err = program.ParseFlag(`fit.v2=a=b`)
	require.NoError(t, err)
	require.Equal(t, program.Spec{Name: "fit.v2", Command: []string{"a=b"}}, s)

	for in, msg := range map[string]string{
		`train`:               `bad program: --program "train": want NAME=COMMAND`,
		`train=`:              `bad program: --program "train=": command: empty argv`,
		`train=  `:            `command: empty argv`,
		`Train=python3`:       `bad program: --program "Train=python3": name "Train": want a lower-case letter`,
		`=python3`:            `name "": want`,
		`train=python3 'x`:    `bad program: --program "train=python3 'x": command: unclosed single quote`,
		`9lives=python3 x.py`: `name "9lives"`,
	} {
		_, err := program.ParseFlag(in)
		require.ErrorIs(t, err, program.ErrBadSpec, in)
		require.ErrorContains(t, err, msg, in)
	}
}

func TestParseEnvList(t *testing.T) {
	t.Parallel()
	specs, err := program.ParseEnvList(`a=cmd1;b=cmd2 'x;y' "z;w";; c=sh -c 'echo 1\; echo 2'`)
	require.NoError(t, err)
	require.Equal(t, []program.Spec{
		{Name: "a", Command: []string{"cmd1"}},
		{Name: "b", Command: []string{"cmd2", "x;y", "z;w"}},
		{Name: "c", Command: []string{"sh", "-c", `echo 1\; echo 2`}},
	}, specs)

	specs, err = program.ParseEnvList("")
	require.NoError(t, err)
	require.Empty(t, specs)

	_, err = program.ParseEnvList(`a=cmd1;b=`)
	require.ErrorIs(t, err, program.ErrBadSpec)
	require.ErrorContains(t, err, `bad program: TASKFLEET_PROGRAMS: entry 2 "b=": command: empty argv`)
}

func TestValidateAll(t *testing.T) {
	t.Parallel()
	a := program.Spec{Name: "train", Command: []string{"python3"}}
	require.NoError(t, program.ValidateAll([]program.Spec{a, {Name: "score", Command: []string{"x"}}}, builtins))
	err := program.ValidateAll([]program.Spec{a, a}, builtins)
	require.ErrorIs(t, err, program.ErrBadSpec)
	require.EqualError(t, err, `bad program: program "train": registered twice`)
	err = program.ValidateAll([]program.Spec{{Name: "sleep", Command: []string{"x"}}}, builtins)
	require.ErrorContains(t, err, `program "sleep": name "sleep": clashes with the built-in kind "sleep"`)
}

const goodFile = `# programs of the research fleet
train:
  command: [python3, examples/program/train.py]
  dir: /srv/models
  timeout: 2h
  env: {OMP_NUM_THREADS: "4", SEED: 7}
  pass_env: [CUDA_VISIBLE_DEVICES]
score:
  command: "python3 score.py --fast 'a b'"
noop.v2: {command: ["true"], timeout: 0}
`

func TestLoadFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "programs.yaml")
	require.NoError(t, os.WriteFile(path, []byte(goodFile), 0o600))
	specs, err := program.LoadFile(path, builtins)
	require.NoError(t, err)
	require.Equal(t, []program.Spec{
		{Name: "noop.v2", Command: []string{"true"}},
		{Name: "score", Command: []string{"python3", "score.py", "--fast", "a b"}},
		{Name: "train", Command: []string{"python3", "examples/program/train.py"}, Dir: "/srv/models", Timeout: 2 * time.Hour,
			Env: map[string]string{"OMP_NUM_THREADS": "4", "SEED": "7"}, PassEnv: []string{"CUDA_VISIBLE_DEVICES"}},
	}, specs)
	require.NoError(t, program.ValidateAll(specs, builtins))

	_, err = program.LoadFile(filepath.Join(t.TempDir(), "missing.yaml"), builtins)
	require.ErrorIs(t, err, program.ErrBadSpec)
	require.ErrorContains(t, err, "--programs: open ")

	specs, err = program.ParseFile([]byte("# nothing yet\n"), "empty.yaml", builtins)
	require.NoError(t, err)
	require.Empty(t, specs)
}

func TestParseFileErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, file, msg string }{
		{"UnknownKey", "train:\n  command: [python3]\n  comand: [x]\n",
			`bad program: f.yaml:3: train.comand: unknown key (want command, dir, timeout, env, pass_env)`},
		{"EmptyArgv", "a:\n  command: [x]\ntrain:\n  timeout: 1h\n  command: []\n",
			`bad program: f.yaml:5: train.command: empty argv`},
		{"EmptyString", "train:\n  command: '  '\n", `f.yaml:2: train.command: empty argv`},
		{"MissingCommand", "train:\n  dir: /x\n", `f.yaml:1: train.command: missing`},
		{"NonStringArg", "train:\n  command: [python3, [x]]\n", `f.yaml:2: train.command: [1]: want a string, got a list`},
		{"NumberArg", "train:\n  command: [python3, x.py, 10]\n", `f.yaml:2: train.command: [2]: want a string, got a number 10 (quote it)`},
		{"BadDuration", "train:\n  command: [x]\n  timeout: 2 hours\n", `f.yaml:3: train.timeout: 2 hours: want a Go duration ≥ 0 such as 90m or 2h`},
		{"NumberDuration", "train:\n  command: [x]\n  timeout: 30\n", `f.yaml:3: train.timeout: 30: want a Go duration`},
		{"NegativeDuration", "train:\n  command: [x]\n  timeout: -1m\n", `f.yaml:3: train.timeout: -1m`},
		{"BadName", "ok:\n  command: [x]\nTrain:\n  command: [x]\n", `f.yaml:3: Train: name "Train": want a lower-case letter`},
		{"Builtin", "\n\nlinear:\n  command: [x]\n", `f.yaml:3: linear: name "linear": clashes with the built-in kind "linear"`},
		{"WorkerVariable", "train:\n  command: [x]\n  env:\n    A: b\n    TASKFLEET_STORE: x\n", `f.yaml:5: train.env.TASKFLEET_STORE: "TASKFLEET_STORE": TASKFLEET_* variables are the worker's`},
		{"PassWorkerVariable", "train:\n  command: [x]\n  pass_env: [TASKFLEET_NATS_TOKEN]\n", `f.yaml:3: train.pass_env: [0]: "TASKFLEET_NATS_TOKEN"`},
		{"EnvList", "train:\n  command: [x]\n  env: [A=1]\n", `f.yaml:3: train.env: want a map of NAME: value, got a list`},
		{"NotAMap", "- train\n", `f.yaml:1: want a map of programs`},
		{"ProgramNotAMap", "train: python3 x.py\n", `f.yaml:1: train: want a map with command`},
		{"Syntax", "train:\n  command: [x\n", `bad program: f.yaml: `},
		{"DuplicateKey", "train:\n  command: [x]\ntrain:\n  command: [y]\n", `bad program: f.yaml: `},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := program.ParseFile([]byte(tc.file), "f.yaml", builtins)
			require.ErrorIs(t, err, program.ErrBadSpec)
			require.ErrorContains(t, err, tc.msg)
		})
	}
}

// TestParseSection reads the programs: of a larger file (a `dispatcher run`
// config): errors name the file, the line in the whole file and the path
// from the key.
func TestParseSection(t *testing.T) {
	t.Parallel()
	doc := "pool: p\nkind: train\nprograms:\n  train:\n    command: python3 train.py\n    timeout: 2h\n"
	specs, err := program.ParseSection([]byte(doc), "run.yaml", "programs", builtins)
	require.NoError(t, err)
	require.Equal(t, []program.Spec{{Name: "train", Command: []string{"python3", "train.py"}, Timeout: 2 * time.Hour}}, specs)

	specs, err = program.ParseSection([]byte("pool: p\n"), "run.yaml", "programs", builtins)
	require.NoError(t, err)
	require.Empty(t, specs)

	for in, msg := range map[string]string{
		"pool: p\nprograms:\n  train:\n    command: [python3]\n    colour: red\n": "run.yaml:5: programs.train.colour: unknown key",
		"pool: p\nprograms:\n  noop:\n    command: [x]\n":                         `run.yaml:3: programs.noop: name "noop": clashes with the built-in kind`,
		"pool: p\nprograms: [a, b]\n":                                             "run.yaml:2: programs: want a map of programs",
		"pool: p\nprograms:\n  a:\n    command: x\n    timeout: soon\n":           "run.yaml:5: programs.a.timeout: soon",
	} {
		_, err := program.ParseSection([]byte(in), "run.yaml", "programs", builtins)
		require.ErrorIs(t, err, program.ErrBadSpec, in)
		require.ErrorContains(t, err, msg, in)
	}
}
