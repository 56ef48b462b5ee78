// Package rolling generates rolling training tasks over a trading calendar:
// the Go counterpart of Qlib's task generators (qlib/workflow/task/gen.py)
// and TimeAdjuster (qlib/workflow/task/utils.py), with the same window
// arithmetic case for case, so that the windows match the ones Qlib gives.
//
// # Overview
//
// A task is a nested document (map[string]any, as decoded from YAML or
// JSON) in Qlib's format: model, dataset and record configs. Its segments
// live at dataset.kwargs.segments (configurable) as a map from key (train,
// valid, test) to a [start, end] list, null meaning an open end.
// Generators expand a template into many tasks; Generate chains them into a
// Cartesian product. Output dates are "2006-01-02" strings aligned to the
// calendar.
//
//	cal, _ := rolling.LoadCalendar("day.txt")
//	rg := &rolling.RollingGen{Calendar: cal, Step: 40, Type: rolling.Sliding, TruncDays: 2}
//	tasks, err := rolling.Generate(templates, rg)
//
// # Mapping from Qlib
//
//	D.calendar(future=True)            Calendar (LoadCalendar, ReadCalendar, BusinessDays, NewCalendar)
//	D.calendar()[-1] (non-future end)  Calendar.LastDataDay (WithLastDataDay)
//	transform_end_date                 the stop bound of RollingGen.Generate and RollingGen.Following
//	TimeAdjuster                       TimeAdjuster
//	  get / max                        TimeAdjuster.Get / Max
//	  align_idx / align_time           TimeAdjuster.AlignIndex / AlignTime (AlignStart, AlignEnd)
//	  align_seg                        TimeAdjuster.AlignSegment / AlignSegments / AlignNested
//	  cal_interval                     TimeAdjuster.Interval
//	  truncate                         TimeAdjuster.Truncate
//	  shift (SHIFT_SD, SHIFT_EX)       TimeAdjuster.Shift (Sliding, Expanding)
//	TaskGen                            Generator (GeneratorFunc)
//	task_generator                     Generate
//	RollingGen                         RollingGen
//	  generate                         RollingGen.Generate
//	  gen_following_tasks              RollingGen.FollowingTasks
//	  ds_extra_mod_func                RollingGen.DatasetModFunc (NoDatasetMod for None)
//	handler_mod                        HandlerMod
//	trunc_segments                     TruncSegments
//	MultiHorizonGenBase                MultiHorizonGen
//	  set_horizon                      MultiHorizonGen.Set (declarative) or SetHorizonFunc
//	RollingStrategy.prepare_tasks      RollingGen.Following, GenConfig.Following
//
// # Rules kept from Qlib
//
//   - A start aligns to the first trading day on or after it (bisect_left),
//     an end to the last trading day on or before it (bisect_right - 1).
//   - The first test window is exactly Step trading days from the aligned
//     test start, whatever the test end; its end is open when it runs past
//     the calendar.
//   - With trunc days, every end of every non-test segment is clamped to at
//     most that many trading days before the test start, and must land on
//     calendar index 1 or later (Qlib asserts idx > 0).
//   - Each roll shifts every segment by Step trading days; under Expanding
//     only the train segment expands, valid and test slide.
//   - Rolling stops when the new test start is after the stop bound: the
//     aligned test end, or the last data day when the end is open or later.
//     The last window is not clipped: it may run past the test end, or be
//     open.
//   - HandlerMod only ever extends dataset.kwargs.handler.kwargs.end_time (to
//     null for an open test end) and leaves a string handler alone.
//   - Generate's output is grouped by template, then by generator output.
//
// # Errors instead of exceptions
//
// Where Qlib raises (IndexError, AssertionError, TypeError on None, KeyError
// on a missing key) or silently wraps a negative index around to the last
// calendar day, the package returns an error: a *PathError naming the
// dotted path inside the template and the reason, wrapping
// ErrInvalidTemplate (and ErrOutOfCalendar for dates outside the calendar).
// Configuration errors wrap ErrInvalidConfig and name the file and line.
// Two of Qlib's edge cases are not errors: a shifted test start exactly one
// day past the calendar (Qlib raises TypeError comparing None) ends rolling,
// and Following orders an open test end after every date (Qlib raises
// TypeError comparing None).
//
// # Beyond Qlib
//
// These options are off by default, so default output equals Qlib's:
//
//   - RollingGen.Period: calendar-aware steps (1W, 1M, 1Q, 1Y): windows
//     start on the first trading day of each period (microsoft/qlib#1288).
//   - RollingGen.ClipTestEnd: the last test window ends at the test end.
//   - RollingGen.Following: the next windows after the latest of a set of
//     existing tasks, up to a date.
//   - MultiHorizonGen.Set: set the horizon declaratively with "{h}"
//     templates instead of subclassing.
//
// # Configuration
//
// GenConfig is the YAML file of "dispatcher gen" (calendar, tasks,
// generators); see its documentation for the format. Build produces the
// task documents, WriteTable and WriteJSON print them.
//
// # Concurrency
//
// Calendars, TimeAdjusters and configured generators are immutable and safe
// for concurrent use. Generators never modify their input templates.
package rolling
