package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"

	"github.com/taskfleet/taskfleet/internal/dataset"
	"github.com/taskfleet/taskfleet/internal/handlers/linear"
	"github.com/taskfleet/taskfleet/internal/handlers/program"
	"github.com/taskfleet/taskfleet/pkg/collect"
	"github.com/taskfleet/taskfleet/pkg/rolling"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

func init() {
	// Payloads are gob interface values: every process that decodes them
	// (workers, and the dispatcher's get, query and collect) must know the
	// concrete types, so they are registered when this package loads.
	// Results of the linear kind hold the last three inside map[string]any.
	for _, v := range []any{SleepDef{}, SleepResult{}, &collect.Frame{}, linear.Metrics{}, collect.ICSummary{}} {
		if err := taskstate.RegisterType(v); err != nil {
			panic(err) // another type holds the name: these payloads would not decode
		}
	}
}

// DataPath is where a linear task's def names its dataset.
const DataPath = "dataset.kwargs.data"

// DataSpec names a panel dataset: a CSV file or a synthetic market.
//
//	{csv: data/panel.csv}
//	{synthetic: {start: 2019-01-01, end: 2021-12-31, instruments: 60, features: 6, seed: 7, snr: 0.1}}
type DataSpec struct {
	CSV       string     `json:"csv,omitempty"`
	Synthetic *SynthSpec `json:"synthetic,omitempty"`
}

// SynthSpec is a synthetic market over the business days from Start to
// End (see dataset.SynthConfig for the defaults of the other fields).
type SynthSpec struct {
	Start       string  `json:"start"`
	End         string  `json:"end"`
	Instruments int     `json:"instruments,omitempty"`
	Features    int     `json:"features,omitempty"`
	Seed        uint64  `json:"seed,omitempty"`
	SNR         float64 `json:"snr,omitempty"`
}

// Load builds or reads the panel; a CSV file must be in the working
// directory (see LoadIn).
func (s DataSpec) Load() (*dataset.Panel, error) { return s.LoadIn("") }

// LoadIn builds or reads the panel. A CSV file must be inside dataDir
// ("": the working directory) once symbolic links are resolved, and never
// in /proc, /sys or /dev; errors quote at most a short excerpt of it.
func (s DataSpec) LoadIn(dataDir string) (*dataset.Panel, error) {
	switch {
	case s.CSV != "" && s.Synthetic != nil:
		return nil, taskstate.Permanent(fmt.Errorf("%s: give csv or synthetic, not both", DataPath))
	case s.CSV != "":
		path, err := dataPath(dataDir, s.CSV)
		if err != nil {
			return nil, err
		}
		f, err := os.Open(path)
		if err != nil {
			return nil, taskstate.Permanent(fmt.Errorf("%s.csv: %w", DataPath, errors.Unwrap(err)))
		}
		defer f.Close()
		return dataset.ReadCSV(f, shorten(s.CSV))
	case s.Synthetic != nil:
		start, err := rolling.ParseDate(s.Synthetic.Start)
		if err != nil {
			return nil, taskstate.Permanent(fmt.Errorf("%s.synthetic.start: %v", DataPath, err))
		}
		end, err := rolling.ParseDate(s.Synthetic.End)
		if err != nil {
			return nil, taskstate.Permanent(fmt.Errorf("%s.synthetic.end: %v", DataPath, err))
		}
		cal, err := rolling.BusinessDays(start, end, nil)
		if err != nil {
			return nil, taskstate.Permanent(fmt.Errorf("%s.synthetic: %v", DataPath, err))
		}
		return dataset.Synthetic(dataset.SynthConfig{
			Days: cal.Days(), Instruments: s.Synthetic.Instruments, Features: s.Synthetic.Features,
			Seed: s.Synthetic.Seed, SNR: s.Synthetic.SNR,
		})
	}
	return nil, taskstate.Permanent(fmt.Errorf("%s: want {csv: PATH} or {synthetic: {...}}", DataPath))
}

// Datasets caches loaded panels by their spec, so the windows of one
// rolling run load the data once per worker.
type Datasets struct {
	// Dir is the data directory CSV files must be in (see
	// DataSpec.LoadIn). Default: the working directory.
	Dir string

	mu     sync.Mutex
	panels map[string]*dataset.Panel
}

// Get returns the panel of the spec at DataPath in the task document.
func (d *Datasets) Get(doc map[string]any) (*dataset.Panel, error) {
	raw, ok := rolling.GetPath(doc, DataPath)
	if !ok {
		return nil, taskstate.Permanent(fmt.Errorf("%s is missing: the def must name its data", DataPath))
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, taskstate.Permanent(fmt.Errorf("%s: %v", DataPath, err))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if p, ok := d.panels[string(b)]; ok {
		return p, nil
	}
	var spec DataSpec
	if err := json.Unmarshal(b, &spec); err != nil {
		return nil, taskstate.Permanent(fmt.Errorf("%s: %v", DataPath, err))
	}
	p, err := spec.LoadIn(d.Dir)
	if err != nil {
		return nil, err
	}
	if d.panels == nil {
		d.panels = map[string]*dataset.Panel{}
	}
	d.panels[string(b)] = p
	return p, nil
}

// PredArtifact is the artifact the linear kind stores its predictions in.
const PredArtifact = "pred.parquet"

// Linear returns the linear kind: ridge regression over one rolling window.
// Claimed from waiting, it fits on the def's train segment and predicts the
// test segment, stores the predictions as the artifact PredArtifact
// (collect.Frame.WriteParquet), and returns {"metrics": linear.Metrics}:
// the result stays small. Claimed from part_done (phase two of a two-phase
// run) it reads phase one's PredArtifact back, scores it, and returns phase
// one's result with "ic" (a collect.ICSummary) added.
func Linear(data *Datasets) taskstate.HandlerFunc {
	return func(ctx context.Context, t *taskstate.Task, param any) (any, error) {
		if t.ClaimedFrom == taskstate.StatusPartDone {
			return scorePhaseTwo(ctx, param)
		}
		doc, ok := param.(map[string]any)
		if !ok {
			return nil, taskstate.Permanent(fmt.Errorf("linear: want a task document, got %T", param))
		}
		def, err := linear.DefFromMap(doc)
		if err != nil {
			return nil, taskstate.Permanent(err)
		}
		panel, err := data.Get(doc)
		if err != nil {
			return nil, err
		}
		res, err := linear.Train(ctx, def, panel)
		if err != nil {
			if errors.Is(err, linear.ErrBadDef) {
				return nil, taskstate.Permanent(err)
			}
			return nil, err
		}
		if err := putFrame(ctx, PredArtifact, res.Pred); err != nil {
			return nil, fmt.Errorf("linear: %w", err)
		}
		return res.Artifacts(), nil
	}
}

// putFrame stores f as the Parquet artifact name of the running attempt,
// encoded while it is written. Run outside a worker's attempt (there is
// no store to put it in) it does nothing.
func putFrame(ctx context.Context, name string, f *collect.Frame) error {
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		pw.CloseWithError(f.WriteParquet(pw))
	}()
	_, err := taskstate.Artifacts(ctx).Put(name, pr)
	pr.Close() // a Put that stopped early unblocks the encoder
	<-done
	if errors.Is(err, taskstate.ErrNoAttempt) {
		return nil
	}
	return err
}

func scorePhaseTwo(ctx context.Context, param any) (any, error) {
	arts, ok := param.(map[string]any)
	if !ok {
		return nil, taskstate.Permanent(fmt.Errorf("linear phase two: want phase one's result, got %T", param))
	}
	rc, meta, err := taskstate.Artifacts(ctx).Open(PredArtifact)
	if errors.Is(err, taskstate.ErrArtifactNotFound) {
		return nil, taskstate.Permanent(fmt.Errorf("linear phase two: %w", err))
	}
	if err != nil {
		return nil, fmt.Errorf("linear phase two: %w", err)
	}
	pred, err := collect.ReadFrame(ctx, rc, meta.Size, collect.ReadOptions{Name: PredArtifact})
	rc.Close()
	if err != nil {
		return nil, taskstate.Permanent(fmt.Errorf("linear phase two: %w", err))
	}
	ic, err := pred.IC()
	if err != nil {
		return nil, fmt.Errorf("linear phase two: score predictions: %w", err)
	}
	out := make(map[string]any, len(arts)+1)
	for k, v := range arts {
		out[k] = v
	}
	out["ic"] = ic
	return out, nil
}

// All returns every built-in kind: noop, sleep and linear. Programs are
// added by the worker from its configuration (see Programs).
func All() map[string]taskstate.HandlerFunc { return AllIn("") }

// AllIn is All with the linear kind reading its CSV datasets only from
// dataDir ("": the working directory).
func AllIn(dataDir string) map[string]taskstate.HandlerFunc {
	kinds := Builtins()
	kinds["linear"] = Linear(&Datasets{Dir: dataDir})
	return kinds
}

// Reserved returns the names of the built-in kinds, which no program may
// take (program.ValidateAll's reserved list).
func Reserved() []string {
	names := make([]string, 0, 3)
	for k := range All() {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// Programs returns the kinds of the programs registered on a worker, one
// per spec. The specs must have passed program.ValidateAll(specs,
// Reserved()); a duplicate name keeps the last.
func Programs(specs []program.Spec, opts program.Options) map[string]taskstate.HandlerFunc {
	kinds := make(map[string]taskstate.HandlerFunc, len(specs))
	for _, s := range specs {
		kinds[s.Name] = program.Handler(s, opts)
	}
	return kinds
}
