# vocals-bridge
#
#   make build   build bin/vocals-bridge (version from git, or VERSION=...)
#   make run     build and run the bridge with defaults: embedded NATS under
#                ./data, callbacks on :8080, admin on :8081 (ARGS=... adds flags)
#   make test    every test, with the race detector (go test -race ./...)
#   make fuzz    run each fuzz target for FUZZTIME (default 30s)
#   make bench   the benchmark harness (ceilings, naive bridge, the bridge;
#                closed and open loop) and Go micro-benchmarks -> BENCHMARKS.md
#   make lint    gofmt and go vet
#   make lint-deploy  offline checks of Dockerfile, Compose, Helm chart,
#                alert rules and dashboard (module bridge/deploycheck)
#   make schemas copy schemas/ into the binary's embedded copy
#   make clean   remove bin/ and ./data
#   make help    this text

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
FUZZTIME ?= 30s
ARGS     ?=

.PHONY: help build run test fuzz bench lint lint-deploy schemas clean

help:
	@sed -n '3,15p' Makefile | sed 's/^# \{0,1\}//'

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/vocals-bridge ./bridge/cmd/vocals-bridge

run: build
	./bin/vocals-bridge $(ARGS)

test:
	$(GO) test -race -count=1 ./...

fuzz:
	$(GO) test ./bridge/internal/callback -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME) -fuzzminimizetime 5s

bench: build
	$(GO) build -o bin/nats-server github.com/nats-io/nats-server/v2
	$(GO) build -o bin/vocals-bench ./bridge/bench/cmd/vocals-bench
	$(GO) test -run '^$$' -bench . -benchmem -count=1 ./bridge/... | tee bin/micro.txt
	./bin/vocals-bench -bridge bin/vocals-bridge -nats-server bin/nats-server -micro bin/micro.txt -out BENCHMARKS.md

lint:
	@test -z "$$(gofmt -l bridge)" || { gofmt -l bridge; echo "gofmt needed"; exit 1; }
	$(GO) vet ./...

# Helm, Kubernetes and Prometheus libraries live in their own module so the
# bridge does not depend on them.
lint-deploy:
	cd bridge/deploycheck && $(GO) vet ./... && $(GO) test -count=1 ./...

schemas:
	cp schemas/v1/*.json bridge/event/schemas/v1/

clean:
	rm -rf bin data
