package metrics_test

import (
	"sort"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
)

// families gathers g and returns its families by name.
func families(t *testing.T, g prometheus.Gatherer) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := g.Gather()
	require.NoError(t, err)
	out := make(map[string]*dto.MetricFamily, len(mfs))
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// familyNames returns the sorted names of the families g gathers.
func familyNames(t *testing.T, g prometheus.Gatherer) []string {
	t.Helper()
	var names []string
	for name := range families(t, g) {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// series returns the metric of family name whose labels are exactly
// labels, failing the test when there is none.
func series(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) *dto.Metric {
	t.Helper()
	mf, ok := families(t, g)[name]
	require.True(t, ok, "no metric family %s", name)
	for _, m := range mf.GetMetric() {
		if len(m.GetLabel()) == len(labels) && hasLabels(m, labels) {
			return m
		}
	}
	require.Failf(t, "no such series", "%s%v", name, labels)
	return nil
}

// only returns a Gatherer of the series of g that carry every one of
// labels.
func only(g prometheus.Gatherer, labels map[string]string) prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		mfs, err := g.Gather()
		var out []*dto.MetricFamily
		for _, mf := range mfs {
			var keep []*dto.Metric
			for _, m := range mf.GetMetric() {
				if hasLabels(m, labels) {
					keep = append(keep, m)
				}
			}
			if len(keep) > 0 {
				mf.Metric = keep
				out = append(out, mf)
			}
		}
		return out, err
	})
}

func hasLabels(m *dto.Metric, labels map[string]string) bool {
	n := 0
	for _, lp := range m.GetLabel() {
		if v, ok := labels[lp.GetName()]; ok {
			if v != lp.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(labels)
}
