// Package yamlpos finds where a value was written in a YAML file, so that
// a configuration error can name the file, the line and the dotted path of
// the offending value: "config.yaml:7: generators[0].step: must be > 0".
//
// It is shared by the three readers of YAML input (the rolling generation
// config, the run config and task files) so they point at values the same
// way. It lives under internal/ because its types are plumbing, not part
// of pkg/rolling's public API; pkg/rolling may import it (same module)
// without exposing it.
package yamlpos
