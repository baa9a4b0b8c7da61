// Package jaeger is only a module: it pins Jaeger all-in-one as a Go tool
// (go get -tool), apart from the bridge and from the test that starts it,
// so neither carries Jaeger's dependencies.
package jaeger
