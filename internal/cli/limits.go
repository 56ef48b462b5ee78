package cli

// Upper bounds of worker counts and concurrencies, wherever they are set
// (worker --concurrency, the workers: and concurrency: of a run config,
// bench flags): each unit is goroutines and store round trips, so a typo
// such as workers: 100000 would take gigabytes before doing anything.
const (
	// MaxWorkers bounds in-process workers (runners) of one process.
	MaxWorkers = 64
	// MaxConcurrency bounds the tasks one worker runs at once.
	MaxConcurrency = 4096
)
