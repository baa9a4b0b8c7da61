// Package consolecheck drives the operator console (/console on the admin
// listener) in a real headless Chromium: a dead letter redriven through the
// page reaches the stream. It is a module of its own so that chromedp stays
// out of the bridge's go.mod; make console-check runs it.
package consolecheck
