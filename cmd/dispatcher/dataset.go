package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/taskfleet/taskfleet/internal/cli"
	"github.com/taskfleet/taskfleet/internal/handlers"
	"github.com/taskfleet/taskfleet/pkg/rolling"
)

func init() {
	register("dataset", "write a dataset file: `dataset synth` writes the synthetic market as a CSV panel", cmdDataset)
}

func cmdDataset(ctx context.Context, m *Main, args []string) error {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		if args[0] != "synth" {
			return cli.Usagef("dataset: unknown subcommand %q (want synth)", args[0])
		}
		args = args[1:]
	}
	var (
		out, start, end, snr        string
		instruments, features, seed int
	)
	de, err := m.parse("dataset synth", "Write the synthetic market (business days from --start to --end, a planted linear signal; the data\nof the linear kind's {synthetic: ...} spec) as a CSV panel: datetime, instrument, f0..fN, label.\npandas reads it with pd.read_csv(FILE, parse_dates=[\"datetime\"]).", args, func(fs *cli.FlagSet) {
		fs.StringVar(&out, "out", "", "", "the CSV file to write (- for stdout)")
		fs.StringVar(&start, "start", "", "2018-12-03", "first day (YYYY-MM-DD)")
		fs.StringVar(&end, "end", "", "2021-12-31", "last day (YYYY-MM-DD)")
		fs.IntVar(&instruments, "instruments", "", 60, "number of instruments")
		fs.IntVar(&features, "features", "", 6, "number of features")
		fs.IntVar(&seed, "seed", "", 7, "random seed: the same flags always give the same panel")
		fs.StringVar(&snr, "snr", "", "0.08", "signal-to-noise ratio of the label (the best IC is sqrt(snr/(1+snr)))")
	})
	if err != nil {
		return err
	}
	if out == "" {
		return cli.Usagef("--out: the CSV file to write is required")
	}
	s, err := rolling.ParseDate(start)
	if err != nil {
		return cli.Usagef("--start: %v", err)
	}
	e, err := rolling.ParseDate(end)
	if err != nil {
		return cli.Usagef("--end: %v", err)
	}
	spec := handlers.SynthSpec{Start: start, End: end, Instruments: instruments, Features: features, Seed: uint64(max(seed, 0))}
	switch {
	case instruments <= 0 || instruments > 100_000:
		return cli.Usagef("--instruments: %d: want 1 to 100000", instruments)
	case features <= 0 || features > 1000:
		return cli.Usagef("--features: %d: want 1 to 1000", features)
	case seed < 0:
		return cli.Usagef("--seed: %d: want ≥ 0", seed)
	}
	if spec.SNR, err = strconv.ParseFloat(snr, 64); err != nil || spec.SNR <= 0 || math.IsInf(spec.SNR, 0) {
		return cli.Usagef("--snr: %q: want a positive number", snr)
	}
	if e.Before(s) {
		return cli.Usagef("--end: %s is before --start %s", end, start)
	}
	if days := e.Sub(s).Hours() / 24; days*float64(instruments) > 50e6 {
		return cli.Usagef("--instruments, --start, --end: %d instruments over %.0f days is more than 50 million rows", instruments, days)
	}
	panel, err := handlers.DataSpec{Synthetic: &spec}.Load()
	if err != nil {
		return cli.Usagef("dataset synth: %v", err)
	}
	if out == "-" {
		return panel.WriteCSV(m.Stdout)
	}
	if err := writeAtomic(out, func(w io.Writer) error { return panel.WriteCSV(w) }); err != nil {
		return err
	}
	fmt.Fprintf(de.notes(), "wrote %s: %d rows (%d days × %d instruments), features %s\n",
		out, len(panel.Rows), len(panel.Rows)/instruments, instruments, strings.Join(panel.Features, ","))
	return nil
}

// writeAtomic writes path through a temporary file in its directory, so a
// reader never sees half of it.
func writeAtomic(path string, write func(io.Writer) error) error {
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	err = write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
