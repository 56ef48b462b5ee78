package metrics_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/metrics"
	"github.com/taskfleet/taskfleet/pkg/events"
	"github.com/taskfleet/taskfleet/pkg/events/eventstest"
)

func TestNames(t *testing.T) {
	t.Parallel()
	names := metrics.Names()
	require.True(t, slices.IsSorted(names))
	require.Len(t, slices.Compact(slices.Clone(names)), len(names), "no duplicates")
	for _, n := range names {
		require.True(t, strings.HasPrefix(n, "taskfleet_"), n)
	}

	names[0] = "changed"
	require.NotEqual(t, "changed", metrics.Names()[0], "a fresh slice each call")
}

// TestDocTable: the reference table in doc.go lists exactly Names.
func TestDocTable(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("doc.go")
	require.NoError(t, err)
	var rows []string
	for _, m := range docRow.FindAllStringSubmatch(string(doc), -1) {
		rows = append(rows, m[1])
	}
	slices.Sort(rows)
	require.Equal(t, metrics.Names(), rows)
}

var docRow = regexp.MustCompile(`(?m)^//\t\| (taskfleet_\w+) +\|`)

// TestNamesCoverThisPackage: with everything of this package registered,
// the families served are exactly the non-event names.
func TestNamesCoverThisPackage(t *testing.T) {
	t.Parallel()
	var own []string
	for _, n := range metrics.Names() {
		if !strings.HasPrefix(n, "taskfleet_events_") {
			own = append(own, n)
		}
	}
	require.Equal(t, own, familyNames(t, fullRegistry(t)))
}

// TestNamesCoverEvents: the names listed for package events are the ones
// an events.Conn registers.
func TestNamesCoverEvents(t *testing.T) {
	t.Parallel()
	rec := &recorder{Registerer: prometheus.NewPedanticRegistry()}
	srv := eventstest.Server(t, events.EmbeddedConfig{})
	eventstest.Connect(t, srv, events.Config{Registerer: rec})

	var want []string
	for _, n := range metrics.Names() {
		if strings.HasPrefix(n, "taskfleet_events_") {
			want = append(want, n)
		}
	}
	require.Equal(t, want, rec.names(t))
}

// recorder is a Registerer that remembers what is registered on it. An
// unused CounterVec gathers nothing, so the names come from Describe.
type recorder struct {
	prometheus.Registerer
	mu sync.Mutex
	cs []prometheus.Collector
}

func (r *recorder) Register(c prometheus.Collector) error {
	r.mu.Lock()
	r.cs = append(r.cs, c)
	r.mu.Unlock()
	return r.Registerer.Register(c)
}

func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (r *recorder) names(t *testing.T) []string {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var names []string
	for _, c := range r.cs {
		ch := make(chan *prometheus.Desc, 16)
		c.Describe(ch)
		close(ch)
		for d := range ch {
			m := fqName.FindStringSubmatch(d.String())
			require.NotNil(t, m, "cannot read the name of %s", d)
			names = append(names, m[1])
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}
