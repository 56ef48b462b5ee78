// Package job is the main job of `dispatcher run`: Qlib's
// examples/model_rolling/task_manager_rolling.py (reset → generate → train
// on a task pool → wait → collect with RollingGroup), done as one command.
//
// One YAML file names the pool, the calendar, the dataset, the task
// templates, the generators, the collection and, for the embedded default,
// the in-process workers. See examples/rolling/demo.yaml.
package job
