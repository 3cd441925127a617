// Package deploy holds no code: it is the home of the deployment files
// (Prometheus, Grafana, docker-compose, Kubernetes) and of the tests that keep
// them valid against real promtool and prometheus binaries.
package deploy
