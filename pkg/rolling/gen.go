package rolling

import (
	"errors"
	"fmt"
	"maps"
	"time"
)

// Generator expands one task template into tasks: Qlib's TaskGen.
// Implementations must not modify the template.
type Generator interface {
	Generate(task map[string]any) ([]map[string]any, error)
}

// GeneratorFunc adapts a function to the Generator interface.
type GeneratorFunc func(task map[string]any) ([]map[string]any, error)

// Generate calls f(task).
func (f GeneratorFunc) Generate(task map[string]any) ([]map[string]any, error) { return f(task) }

// Generate expands templates with generators, in order: Qlib's
// task_generator. Each generator is applied to every task produced so far
// and the results are concatenated, so the output is a Cartesian product
// (3 templates, a generator giving 2 tasks per template and one giving 3
// yield 18 tasks), grouped by template first and then by the generators'
// output order, exactly as in Qlib. With no generators it returns copies of
// the templates. An error is a *GenerateError naming the template and the
// generator.
func Generate(templates []map[string]any, gens ...Generator) ([]map[string]any, error) {
	var out []map[string]any
	// Expanding template by template gives Qlib's order: a flat-map
	// preserves the order of its input.
	for ti, tpl := range templates {
		tasks := []map[string]any{CopyTask(tpl)}
		for gi, g := range gens {
			var next []map[string]any
			for _, t := range tasks {
				res, err := g.Generate(t)
				if err != nil {
					return nil, &GenerateError{Template: ti, Generator: gi, Err: err}
				}
				next = append(next, res...)
			}
			tasks = next
		}
		out = append(out, tasks...)
	}
	return out, nil
}

var _ Generator = (*RollingGen)(nil)

// DefaultStep is RollingGen's default step in trading days (Qlib's default).
const DefaultStep = 40

// DatasetModFunc modifies a task after RollingGen has set its segments:
// Qlib's ds_extra_mod_func. It edits task in place.
type DatasetModFunc func(task map[string]any, g *RollingGen) error

// RollingGen turns a task template into rolling tasks: Qlib's RollingGen,
// with the same arithmetic case for case. For a template whose test segment
// is [S, E]:
//
//  1. All segments are aligned to the calendar (starts to the first trading
//     day ≥ the date, ends to the last trading day ≤ the date; open ends stay
//     open).
//  2. The stop bound is the aligned test end, or the calendar's last data day
//     when the end is open or later (Qlib's transform_end_date).
//  3. The first test window is exactly Step trading days from the aligned S,
//     whatever E is; its end is open when it runs past the calendar.
//  4. With TruncDays > 0, every end of every other segment is clamped to at
//     most TruncDays trading days before the test start.
//  5. The dataset modification (HandlerMod by default) runs on the task.
//  6. Following tasks shift every segment by Step trading days (under
//     Expanding only the train segment expands; the others slide) until the
//     new test start is after the stop bound. The last window is not clipped
//     to E: it may end after E, or be open.
//
// Options beyond Qlib (Period, ClipTestEnd) are off by default, so the
// default output equals Qlib's.
//
// A RollingGen is safe for concurrent use once configured.
type RollingGen struct {
	// Calendar is the trading calendar: Qlib's future calendar, with its
	// LastDataDay as the non-future calendar end. Required.
	Calendar *Calendar

	// Step is the number of trading days of each test window and of each
	// roll. Defaults to 40 (DefaultStep). Ignored when Period is set.
	Step int

	// Type is the roll type: Expanding (the train segment keeps its start
	// and grows) or Sliding (every segment keeps its size). Defaults to
	// Expanding, Qlib's default.
	Type RollType

	// TruncDays clamps every non-test segment to end at least TruncDays
	// trading days before the test start (Qlib's trunc_days; Qlib's rolling
	// benchmark uses horizon + 1). Defaults to 0: no truncation, Qlib's
	// trunc_days=None. Qlib's trunc_days=0, which would let segments reach
	// the test start itself, cannot be expressed.
	TruncDays int

	// TestKey is the key of the test segment. Defaults to "test".
	TestKey string

	// TrainKey is the key of the segment that expands under Expanding.
	// Defaults to "train". (Qlib's train_key=None, nothing expands, is the
	// same as Type Sliding.)
	TrainKey string

	// SegmentsPath is the dotted path of the segments map in a task.
	// Defaults to DefaultSegmentsPath, "dataset.kwargs.segments".
	SegmentsPath string

	// DatasetModFunc runs on every generated task after its segments are set
	// (Qlib's ds_extra_mod_func). Defaults to HandlerMod.
	DatasetModFunc DatasetModFunc

	// NoDatasetMod disables DatasetModFunc, HandlerMod included (Qlib's
	// ds_extra_mod_func=None). Defaults to false.
	NoDatasetMod bool

	// Period, when set, makes the step calendar-aware: every test window
	// after the first starts on the first trading day of a week, month,
	// quarter or year, and spans Period.N such periods (see Period). Not in
	// Qlib. Defaults to the zero Period: the step is Step trading days.
	Period Period

	// ClipTestEnd clips the last test window to the stop bound (the aligned
	// test end, or the last data day when the test end is open or later)
	// instead of letting it run past it or stay open. Not in Qlib. Defaults
	// to false.
	ClipTestEnd bool

	// CloseOpen makes Following also return, for each latest task whose
	// test end is open and which has successors, a copy with the test end
	// closed on the day before the first successor's test start: the open
	// task predicted only up to the data it had, and its successors start
	// a step later. (Qlib's online routine extends the latest model's
	// predictions with update_online_pred instead.) Defaults to false.
	CloseOpen bool
}

// roller is a RollingGen with its defaults resolved.
type roller struct {
	g        *RollingGen
	ta       *TimeAdjuster
	step     int
	rtype    RollType
	testKey  string
	trainKey string
	segPath  string
}

// Validate checks the settings. Errors wrap ErrInvalidConfig and name the
// field.
func (g *RollingGen) Validate() error {
	_, err := g.resolve()
	return err
}

func (g *RollingGen) resolve() (*roller, error) {
	r := &roller{g: g, step: g.Step, rtype: g.Type, testKey: g.TestKey, trainKey: g.TrainKey, segPath: g.SegmentsPath}
	if g.Calendar == nil {
		return nil, invalidf("Calendar", "a trading calendar is required")
	}
	r.ta = NewTimeAdjuster(g.Calendar)
	if !g.Period.IsZero() {
		if err := g.Period.validate(); err != nil {
			return nil, invalidf("Period", "%v", err)
		}
	}
	switch {
	case r.step == 0:
		r.step = DefaultStep
	case r.step < 0:
		return nil, invalidf("Step", "must be > 0, got %d", r.step)
	}
	switch r.rtype {
	case "":
		r.rtype = Expanding
	case Expanding, Sliding:
	default:
		return nil, invalidf("Type", "unknown roll type %q: want %q or %q", r.rtype, Expanding, Sliding)
	}
	if g.TruncDays < 0 {
		return nil, invalidf("TruncDays", "must be ≥ 0, got %d", g.TruncDays)
	}
	if r.testKey == "" {
		r.testKey = DefaultTestKey
	}
	if r.trainKey == "" {
		r.trainKey = DefaultTrainKey
	}
	if r.segPath == "" {
		r.segPath = DefaultSegmentsPath
	}
	return r, nil
}

// Generate returns the rolling tasks of a template (Qlib's
// RollingGen.generate): the first window's task followed by its successors
// (FollowingTasks up to the stop bound). Segment dates in the result are
// "2006-01-02" strings aligned to the calendar; open ends are nil. The
// template is not modified. Where Qlib raises (no test segment, an open
// test start, a date outside the calendar, a truncation to calendar index 0
// or an open end under TruncDays, ...) the error is a *PathError naming the
// dotted path inside the template and the reason.
func (g *RollingGen) Generate(task map[string]any) ([]map[string]any, error) {
	r, err := g.resolve()
	if err != nil {
		return nil, err
	}
	t := CopyTask(task)
	segs, err := ReadSegments(t, r.segPath)
	if err != nil {
		return nil, err
	}
	testPath := joinPath(r.segPath, r.testKey)
	if _, ok := segs[r.testKey]; !ok {
		return nil, pathErrorf(testPath, "missing: the template has no %q segment", r.testKey)
	}
	aligned, err := r.ta.AlignSegments(segs)
	if err != nil {
		return nil, prefixPath(r.segPath, err)
	}
	test := aligned[r.testKey]
	if test.Start.IsZero() {
		return nil, pathErrorf(joinPath(testPath, "0"), "open start: a rolling test segment needs a start date (Qlib raises TypeError)")
	}
	// 1) the stop bound: Qlib's transform_end_date(aligned test end)
	testEnd := r.transformEnd(test.End)
	// 2) the first test window: exactly Step trading days (or one period)
	i, _ := r.ta.AlignIndex(test.Start, AlignStart)
	win, err := r.clip(r.window(i), testEnd)
	if err != nil {
		return nil, pathErrorf(testPath, "%w", err)
	}
	aligned[r.testKey] = win
	// 3) truncation of the other segments
	if g.TruncDays > 0 {
		if err := TruncSegments(r.ta, aligned, g.TruncDays, r.testKey); err != nil {
			return nil, prefixPath(r.segPath, err)
		}
	}
	if err := r.update(t, aligned); err != nil {
		return nil, err
	}
	res := []map[string]any{t}
	more, err := r.following(t, aligned, testEnd)
	if err != nil {
		return nil, err
	}
	return append(res, more...), nil
}

// FollowingTasks returns the rolling successors of task, excluding task
// itself (Qlib's gen_following_tasks): every segment is shifted by Step
// trading days at a time (only the train segment expands under Expanding)
// and a successor is produced while its test start is on or before testEnd.
// The zero testEnd means the calendar's last data day. Each successor is a
// copy of task with new segments, modified by the dataset modification.
func (g *RollingGen) FollowingTasks(task map[string]any, testEnd time.Time) ([]map[string]any, error) {
	r, err := g.resolve()
	if err != nil {
		return nil, err
	}
	segs, err := r.readTestSegments(task)
	if err != nil {
		return nil, err
	}
	if testEnd.IsZero() {
		testEnd = g.Calendar.LastDataDay()
	}
	return r.following(task, segs, testEnd)
}

// Following generates the rolling tasks that follow a set of existing tasks
// up to end: Qlib's RollingStrategy.prepare_tasks. The existing tasks (for
// example the task definitions of a pool, fetched by the caller) whose test
// segment is the latest (the greatest start, then the greatest end, an open
// end being the greatest) are each extended with FollowingTasks. end is
// clamped like Qlib's transform_end_date: the zero Time or a date after the
// calendar's last data day means the last data day. It returns nil when
// existing is empty or nothing is due yet.
func (g *RollingGen) Following(existing []map[string]any, end time.Time) ([]map[string]any, error) {
	r, err := g.resolve()
	if err != nil {
		return nil, err
	}
	var (
		latest []int
		segs   = make([]map[string]Segment, len(existing))
		top    Segment // the latest test segment so far
	)
	for i, t := range existing {
		s, err := r.readTestSegments(t)
		if err != nil {
			return nil, &GenerateError{Template: i, Generator: -1, Err: err}
		}
		segs[i] = s
		switch c := compareSegments(s[r.testKey], top); {
		case len(latest) == 0 || c > 0:
			latest, top = []int{i}, s[r.testKey]
		case c == 0:
			latest = append(latest, i)
		}
	}
	end = r.transformEnd(end)
	var out []map[string]any
	for _, i := range latest {
		more, err := r.following(existing[i], segs[i], end)
		if err != nil {
			return nil, &GenerateError{Template: i, Generator: -1, Err: err}
		}
		if g.CloseOpen && segs[i][r.testKey].End.IsZero() {
			closed, err := r.closeOpen(existing[i], segs[i], more)
			if err != nil {
				return nil, &GenerateError{Template: i, Generator: -1, Err: err}
			}
			if closed != nil {
				out = append(out, closed)
			}
		}
		out = append(out, more...)
	}
	return out, nil
}

// closeOpen returns a copy of task, whose test end is open, with the test
// end closed on the day before the first successor's test start: the task
// predicted only up to the data it had, and the successor starts a step
// later. It returns nil when no successor is due (the open task is left
// as it is: a run with the same end adds nothing).
func (r *roller) closeOpen(task map[string]any, segs map[string]Segment, more []map[string]any) (map[string]any, error) {
	if len(more) == 0 {
		return nil, nil
	}
	next, err := ReadSegments(more[0], r.segPath)
	if err != nil {
		return nil, err
	}
	i, _ := r.ta.AlignIndex(next[r.testKey].Start, AlignStart)
	test := segs[r.testKey]
	if i == 0 || r.ta.Get(i-1).Before(test.Start) {
		return nil, nil
	}
	last := r.ta.Get(i - 1)
	closed := maps.Clone(segs)
	closed[r.testKey] = Segment{Start: test.Start, End: last}
	t := CopyTask(task)
	if err := r.update(t, closed); err != nil {
		return nil, err
	}
	return t, nil
}

// compareSegments orders segments by start, then by end, an open end being
// later than any date. (Qlib compares tuples and raises TypeError on an
// open end.)
func compareSegments(a, b Segment) int {
	if c := a.Start.Compare(b.Start); c != 0 {
		return c
	}
	switch {
	case a.End.Equal(b.End):
		return 0
	case a.End.IsZero():
		return 1
	case b.End.IsZero():
		return -1
	}
	return a.End.Compare(b.End)
}

// readTestSegments reads the segments of an existing task and checks that it
// has a test segment with a start.
func (r *roller) readTestSegments(task map[string]any) (map[string]Segment, error) {
	segs, err := ReadSegments(task, r.segPath)
	if err != nil {
		return nil, err
	}
	testPath := joinPath(r.segPath, r.testKey)
	test, ok := segs[r.testKey]
	if !ok {
		return nil, pathErrorf(testPath, "missing: the task has no %q segment", r.testKey)
	}
	if test.Start.IsZero() {
		return nil, pathErrorf(joinPath(testPath, "0"), "open start: a rolling test segment needs a start date (Qlib raises TypeError)")
	}
	if _, err := r.ta.AlignTime(test.Start, AlignStart); err != nil {
		return nil, pathErrorf(joinPath(testPath, "0"), "%w", err)
	}
	return segs, nil
}

// transformEnd is Qlib's transform_end_date: an open end or one after the
// last data day becomes the last data day.
func (r *roller) transformEnd(t time.Time) time.Time {
	if last := r.g.Calendar.LastDataDay(); t.IsZero() || t.After(last) {
		return last
	}
	return t
}

// window returns the test window starting at calendar index i: Step trading
// days, or one period; the end is open when it runs past the calendar.
func (r *roller) window(i int) Segment {
	if p := r.g.Period; !p.IsZero() {
		last, _ := p.window(r.g.Calendar, i)
		return Segment{Start: r.ta.Get(i), End: r.ta.Get(last)}
	}
	return Segment{Start: r.ta.Get(i), End: r.ta.Get(i + r.step - 1)}
}

// clip applies ClipTestEnd: a window ending after testEnd, or open, is cut
// at the last trading day on or before testEnd.
func (r *roller) clip(win Segment, testEnd time.Time) (Segment, error) {
	if !r.g.ClipTestEnd || (!win.End.IsZero() && !win.End.After(testEnd)) {
		return win, nil
	}
	end, err := r.ta.AlignTime(testEnd, AlignEnd)
	if err != nil {
		return Segment{}, err
	}
	if end.Before(win.Start) {
		return Segment{}, fmt.Errorf("cannot clip the test window %s to the test end %s, which is before its start", win, FormatDate(testEnd))
	}
	win.End = end
	return win, nil
}

// following is Qlib's gen_following_tasks loop, starting from the segments
// prev of task.
func (r *roller) following(task map[string]any, prev map[string]Segment, testEnd time.Time) ([]map[string]any, error) {
	var out []map[string]any
	n := r.g.Calendar.Len()
	for {
		step := r.step
		var periodTest Segment
		if p := r.g.Period; !p.IsZero() {
			si, _ := r.ta.AlignIndex(prev[r.testKey].Start, AlignStart)
			if si >= n {
				break
			}
			_, ni := p.window(r.g.Calendar, si)
			if ni >= n {
				break // the next window starts after the calendar
			}
			step = ni - si
			periodTest = r.window(ni)
		}
		next := make(map[string]Segment, len(prev))
		stop := false
		for _, k := range sortedKeys(prev) {
			if k == r.testKey && !r.g.Period.IsZero() {
				next[k] = periodTest
				continue
			}
			mode := Sliding
			if k == r.trainKey && r.rtype == Expanding {
				mode = Expanding
			}
			s, err := r.ta.Shift(prev[k], step, mode)
			if errors.Is(err, errShiftedPastEnd) {
				stop = true // Qlib: KeyError, "we reach the end of tasks"
				break
			}
			if err != nil {
				return nil, prefixPath(joinPath(r.segPath, k), err)
			}
			next[k] = s
		}
		if stop {
			break
		}
		test := next[r.testKey]
		// A test start exactly one day past the calendar is open; Qlib then
		// raises TypeError comparing None with the test end. Rolling is
		// over either way.
		if test.Start.IsZero() || test.Start.After(testEnd) {
			break
		}
		if r.g.ClipTestEnd && r.g.Period.IsZero() {
			// The previous window may have been clipped: size this one
			// from its start.
			si, _ := r.ta.AlignIndex(test.Start, AlignStart)
			test = r.window(si)
		}
		test, err := r.clip(test, testEnd)
		if err != nil {
			return nil, pathErrorf(joinPath(r.segPath, r.testKey), "%w", err)
		}
		next[r.testKey] = test
		t := CopyTask(task)
		if err := r.update(t, next); err != nil {
			return nil, err
		}
		out = append(out, t)
		prev = next
	}
	return out, nil
}

// update writes segs into t and runs the dataset modification (Qlib's
// _update_task_segs).
func (r *roller) update(t map[string]any, segs map[string]Segment) error {
	if err := WriteSegments(t, r.segPath, segs); err != nil {
		return err
	}
	if r.g.NoDatasetMod {
		return nil
	}
	mod := r.g.DatasetModFunc
	if mod == nil {
		mod = HandlerMod
	}
	return mod(t, r.g)
}

// TruncSegments truncates, in place, every segment other than testKey so
// that it ends at least days trading days before the test start (Qlib's
// trunc_segments). The test start is the earliest non-open end of the test
// segment. Errors are *PathErrors relative to the segments map (such as
// "train.0").
func TruncSegments(ta *TimeAdjuster, segs map[string]Segment, days int, testKey string) error {
	test, ok := segs[testKey]
	if !ok {
		return pathErrorf(testKey, "missing: no %q segment", testKey)
	}
	start := test.Start
	if start.IsZero() || (!test.End.IsZero() && test.End.Before(start)) {
		start = test.End
	}
	if start.IsZero() {
		return pathErrorf(testKey, "both ends are open: truncation needs a test start (Qlib raises ValueError)")
	}
	for _, k := range sortedKeys(segs) {
		if k == testKey {
			continue
		}
		s, err := ta.Truncate(segs[k], start, days)
		if err != nil {
			return segmentError(k, err)
		}
		segs[k] = s
	}
	return nil
}

// HandlerMod is the default DatasetModFunc (Qlib's handler_mod): it extends
// the handler end time dataset.kwargs.handler.kwargs.end_time so that the
// handler loads the whole test window, and never shortens it. When the
// test segment's end is open, the end time is set to nil ("up to the
// latest"); otherwise it is set to the test end when it is earlier, counted
// in trading days. It changes nothing when the task has no such handler or
// no test segment, when the handler is a string (a cached
// "file:///….pkl" handler) and when the handler has no end time or a null
// one (already unbounded): Qlib swallows the KeyError or TypeError of these
// cases. It never touches start_time or the fit_* times.
func HandlerMod(task map[string]any, g *RollingGen) error {
	r, err := g.resolve()
	if err != nil {
		return err
	}
	hv, ok := GetPath(task, "dataset.kwargs.handler")
	if !ok {
		return nil
	}
	h, ok := hv.(map[string]any)
	if !ok {
		return nil // a string handler
	}
	kwv, ok := h["kwargs"]
	if !ok {
		return nil
	}
	kw, ok := kwv.(map[string]any)
	if !ok {
		// Qlib calls kwargs.get and raises AttributeError.
		return pathErrorf("dataset.kwargs.handler.kwargs", "want a map, got %s", kindOf(kwv))
	}
	testPath := joinPath(r.segPath, r.testKey)
	sv, ok := GetPath(task, testPath)
	if !ok {
		return nil
	}
	seg, err := parseSegment(sv)
	if err != nil {
		return prefixPath(r.segPath, segmentError(r.testKey, err))
	}
	if seg.End.IsZero() {
		kw["end_time"] = nil
		return nil
	}
	hEnd := kw["end_time"]
	if hEnd == nil {
		return nil
	}
	he, err := parseDateValue(hEnd)
	if err != nil {
		return &PathError{Path: HandlerEndTimePath, Err: err}
	}
	if n, _ := r.ta.Interval(he, seg.End); n < 0 {
		kw["end_time"] = FormatDate(seg.End)
	}
	return nil
}
