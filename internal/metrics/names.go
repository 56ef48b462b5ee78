package metrics

import "slices"

// Metric names. They are a contract: dashboards, alerts and the README
// refer to them.
const (
	nameClaimed   = "taskfleet_tasks_claimed_total"
	nameCommitted = "taskfleet_tasks_committed_total"
	nameRetried   = "taskfleet_tasks_retried_total"
	nameFailed    = "taskfleet_tasks_failed_total"
	nameReleased  = "taskfleet_tasks_released_total"
	nameReaped    = "taskfleet_tasks_reaped_total"
	nameLeaseLost = "taskfleet_lease_lost_total"
	nameRun       = "taskfleet_task_run_duration_seconds"
	namePickup    = "taskfleet_task_pickup_latency_seconds"
	nameInFlight  = "taskfleet_tasks_in_flight"

	nameStoreOp = "taskfleet_store_operation_duration_seconds"

	nameTasks      = "taskfleet_tasks"
	nameStatUp     = "taskfleet_pool_stat_up"
	nameStatErrors = "taskfleet_pool_stat_errors_total"
)

// Names registered by package pkg/events (its Conn registers them on
// events.Config.Registerer). Listed here so that Names covers every
// taskfleet metric; a test keeps the two in step.
const (
	nameEventsPublished     = "taskfleet_events_published_total"
	nameEventsPublishFailed = "taskfleet_events_publish_failed_total"
	nameEventsReceived      = "taskfleet_events_received_total"
	nameEventsReconnects    = "taskfleet_events_reconnects_total"
	nameEventsConnected     = "taskfleet_events_connected"
)

var (
	workerNames = []string{
		nameClaimed, nameCommitted, nameRetried, nameFailed, nameReleased,
		nameReaped, nameLeaseLost, nameRun, namePickup, nameInFlight,
	}
	storeNames  = []string{nameStoreOp}
	poolNames   = []string{nameTasks, nameStatUp, nameStatErrors, namePaused}
	eventsNames = []string{
		nameEventsPublished, nameEventsPublishFailed, nameEventsReceived,
		nameEventsReconnects, nameEventsConnected,
	}
)

// Names returns, sorted, the name of every metric family taskfleet
// registers: the Worker's, the Store's, the pool collector's and those of
// package pkg/events. These are family names as in the "# TYPE" line of the
// text format: a histogram is scraped as its _bucket, _sum and _count
// series, and a counter's series carry the _total suffix shown here.
func Names() []string {
	names := slices.Concat(workerNames, storeNames, poolNames, eventsNames)
	slices.Sort(names)
	return names
}
