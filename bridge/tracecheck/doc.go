// Package tracecheck holds the end-to-end tracing test: the real bridge
// and a consuming service exporting to a real Jaeger. Jaeger is built from
// its Go module, pinned as a tool by the module in jaeger/, so neither the
// bridge's go.mod nor this one carries Jaeger's dependencies (they would
// not agree on OpenTelemetry's). make trace-check runs it.
package tracecheck
