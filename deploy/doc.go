// Package deploy holds the fleet deployment files — compose.yaml, the
// Prometheus configuration and the Grafana provisioning and dashboard — and
// the tests that keep them in step with the binaries.
//
// There is no Docker engine in CI, so the tests check the files the way the
// tools would use them: they build the real dispatcher and worker, read
// their --help output, and check every flag and TASKFLEET_* variable the
// compose file passes; they cross-check ports, service names, mounts and
// datasource ids between compose.yaml, prometheus.yml and the Grafana files;
// they start a real worker and exporter and check that every metric the
// dashboard queries is served; and they run a worker against a NATS server
// that requires credentials.
//
// Run them with `go test ./deploy`. After changing a flag, regenerate the
// configuration reference in README.md with
//
//	go test ./deploy -run TestREADMEConfigurationReference -update
package deploy
