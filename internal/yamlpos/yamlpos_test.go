package yamlpos_test

import (
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/yamlpos"
)

const doc = `pool: p
generators:
  - type: rolling
    step: 0
  - {type: multi_horizon, "odd.key": 1}
base: &b
  x: 1
merged:
  <<: *b
  y: 2
`

func TestLine(t *testing.T) {
	t.Parallel()
	f, err := yamlpos.Parse([]byte(doc))
	require.NoError(t, err)
	for _, tc := range []struct {
		path yamlpos.Path
		line int
		str  string
	}{
		{yamlpos.Path{"pool"}, 1, "pool"},
		{yamlpos.Path{"generators", 0, "step"}, 4, "generators[0].step"},
		{yamlpos.Path{"generators", 1, "odd.key"}, 5, "generators[1].odd.key"},
		{yamlpos.Path{"generators", 0, "missing"}, 3, "generators[0].missing"}, // the closest ancestor
		{yamlpos.Path{"nowhere"}, 0, "nowhere"},
		{yamlpos.Path{0, "kind"}, 0, "[0].kind"},
	} {
		require.Equal(t, tc.line, f.Line(tc.path), "%v", tc.path)
		require.Equal(t, tc.str, tc.path.String())
	}
	var none *yamlpos.File
	require.Zero(t, none.Line(yamlpos.Path{"pool"}))
	require.Equal(t, "f.yaml:3", yamlpos.Where("f.yaml", 3))
	require.Equal(t, "f.yaml", yamlpos.Where("f.yaml", 0))
}

func TestKeysAndPathOf(t *testing.T) {
	t.Parallel()
	f, err := yamlpos.Parse([]byte(doc))
	require.NoError(t, err)
	require.Equal(t, []yamlpos.Key{{"y", 10}}, yamlpos.Keys(f.Node(yamlpos.Path{"merged"})), "merge keys are left out")
	require.Nil(t, yamlpos.Keys(f.Node(yamlpos.Path{"pool"})), "not a mapping")

	var v struct {
		Generators []struct {
			Step int `yaml:"step"`
		} `yaml:"generators"`
	}
	err = yaml.Unmarshal([]byte("generators:\n  - step: x\n"), &v)
	tk, msg, ok := yamlpos.ErrorToken(err)
	require.True(t, ok)
	require.NotEmpty(t, msg)
	f, err = yamlpos.Parse([]byte("generators:\n  - step: x\n"))
	require.NoError(t, err)
	p, ok := f.PathOf(tk)
	require.True(t, ok)
	require.Equal(t, "generators[0].step", p.String())

	base := yamlpos.Path{"a"}
	p1, p2 := base.Append("b"), base.Append("c")
	require.Equal(t, "a.b", p1.String(), "Append never shares its backing array")
	require.Equal(t, "a.c", p2.String())
}
