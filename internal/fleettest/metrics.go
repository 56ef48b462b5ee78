package fleettest

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metrics is a parsed /metrics page.
type Metrics struct {
	Text     string                       // the page as served
	Families map[string]*dto.MetricFamily // as expfmt parses it, by name
}

// Sample is one sample line of the text format: a histogram's buckets
// (with "le"), sum and count are samples of NAME_bucket, NAME_sum and
// NAME_count, a summary's quantiles samples of NAME.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// scrapeClient keeps no idle connection, so nothing is left behind for
// goleak once a test ends.
var scrapeClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// Scrape fetches and parses the metrics served at addr: HOST:PORT (its
// /metrics) or a URL. The test fails if the page cannot be fetched or
// parsed.
func Scrape(t testing.TB, addr string) Metrics {
	t.Helper()
	url := addr
	if !strings.Contains(url, "://") {
		url = "http://" + addr + "/metrics"
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	resp, err := scrapeClient.Do(req)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %s: %s", url, resp.Status, body)
	}
	m, err := ParseMetrics(string(body))
	if err != nil {
		t.Fatalf("scrape %s: %v\n%s", url, err, body)
	}
	return m
}

// ParseMetrics parses the Prometheus text format.
func ParseMetrics(text string) (Metrics, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		return Metrics{}, err
	}
	return Metrics{Text: text, Families: fams}, nil
}

// Sum sums the samples named name whose labels include every one of
// labels (name, value pairs); ok is false when there is none.
func (m Metrics) Sum(name string, labels ...string) (sum float64, ok bool) {
	if len(labels)%2 != 0 {
		panic(fmt.Sprintf("fleettest: Metrics.Sum(%q, %q): labels come in name, value pairs", name, labels))
	}
next:
	for _, s := range m.Samples() {
		if s.Name != name {
			continue
		}
		for i := 0; i < len(labels); i += 2 {
			if v, has := s.Labels[labels[i]]; !has || v != labels[i+1] {
				continue next
			}
		}
		sum += s.Value
		ok = true
	}
	return sum, ok
}

// Samples flattens the families into the samples the text format lists, in
// name order.
func (m Metrics) Samples() []Sample {
	names := make([]string, 0, len(m.Families))
	for n := range m.Families {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []Sample
	for _, n := range names {
		for _, x := range m.Families[n].GetMetric() {
			out = append(out, flatten(n, x)...)
		}
	}
	return out
}

func flatten(name string, x *dto.Metric) []Sample {
	labels := func(extra ...string) map[string]string {
		l := make(map[string]string, len(x.GetLabel())+1)
		for _, lp := range x.GetLabel() {
			l[lp.GetName()] = lp.GetValue()
		}
		for i := 0; i+1 < len(extra); i += 2 {
			l[extra[i]] = extra[i+1]
		}
		return l
	}
	switch {
	case x.Counter != nil:
		return []Sample{{name, labels(), x.GetCounter().GetValue()}}
	case x.Gauge != nil:
		return []Sample{{name, labels(), x.GetGauge().GetValue()}}
	case x.Untyped != nil:
		return []Sample{{name, labels(), x.GetUntyped().GetValue()}}
	case x.Histogram != nil:
		h := x.GetHistogram()
		count := float64(h.GetSampleCount()) + h.GetSampleCountFloat()
		var out []Sample
		inf := false
		for _, b := range h.GetBucket() {
			inf = inf || math.IsInf(b.GetUpperBound(), +1)
			out = append(out, Sample{name + "_bucket", labels("le", formatLe(b.GetUpperBound())),
				float64(b.GetCumulativeCount()) + b.GetCumulativeCountFloat()})
		}
		if !inf {
			out = append(out, Sample{name + "_bucket", labels("le", "+Inf"), count})
		}
		return append(out, Sample{name + "_sum", labels(), h.GetSampleSum()}, Sample{name + "_count", labels(), count})
	case x.Summary != nil:
		s := x.GetSummary()
		var out []Sample
		for _, q := range s.GetQuantile() {
			out = append(out, Sample{name, labels("quantile", formatLe(q.GetQuantile())), q.GetValue()})
		}
		return append(out, Sample{name + "_sum", labels(), s.GetSampleSum()}, Sample{name + "_count", labels(), float64(s.GetSampleCount())})
	}
	return nil
}

func formatLe(v float64) string {
	if math.IsInf(v, +1) {
		return "+Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
