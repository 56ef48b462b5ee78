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
next:
	for _, m := range mf.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		for _, lp := range m.GetLabel() {
			if v, ok := labels[lp.GetName()]; !ok || v != lp.GetValue() {
				continue next
			}
		}
		return m
	}
	require.Failf(t, "no such series", "%s%v", name, labels)
	return nil
}
