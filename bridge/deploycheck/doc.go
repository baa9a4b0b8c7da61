// Package deploycheck holds the offline checks of the deployment files
// (Dockerfile, docker-compose.yml, the Helm chart, alert rules, dashboard).
// It is a module of its own so that Helm, Kubernetes and Prometheus stay out
// of the bridge's dependencies; run it with make lint-deploy.
package deploycheck
