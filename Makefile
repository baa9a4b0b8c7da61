# vocals-bridge
#
#   make build   build bin/vocals-bridge (version from git, or VERSION=...)
#   make run     build and run the bridge with defaults: embedded NATS under
#                ./data, callbacks on :8080, admin on 127.0.0.1:8081 (ARGS=... adds flags)
#   make test    every test, with the race detector (go test -race ./...;
#                the deployment checks are make lint-deploy)
#   make fuzz    run each fuzz target for FUZZTIME (default 30s)
#   make bench   the benchmark harness (ceilings, naive bridge, the Watermill
#                peer in module bridge/bench/peer, the bridge; closed and open
#                loop) and Go micro-benchmarks -> BENCHMARKS.md
#   make bench-smoke  the harness with tiny counts, to keep it working (CI)
#   make lint    gofmt and go vet
#   make lint-deploy  offline checks of Dockerfile, Compose, Helm chart,
#                alert rules and dashboard (module bridge/deploycheck)
#   make trace-check  a callback's trace through the bridge and a consumer,
#                read back from a real Jaeger (module bridge/tracecheck)
#   make console-check  a dead letter redriven from the operator console in
#                Debian's headless Chromium (module bridge/consolecheck)
#   make lint-schemas  the JSON Schemas with a standard validator (ajv, from npm)
#                against the golden events, and the AsyncAPI catalog with
#                the AsyncAPI parser (the library the AsyncAPI CLI
#                validates with, without the CLI's usage metrics)
#   make demo    the provider simulator, the bridge with task tracking and a
#                tail of the events: five families, lost callbacks recovered
#   make clean   remove bin/, ./data and ./data-demo
#   make help    this text

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
FUZZTIME ?= 30s
ARGS     ?=

.PHONY: help build run test fuzz bench bench-smoke lint lint-deploy trace-check console-check lint-schemas demo clean

help:
	@sed -n '3,23p' Makefile | sed 's/^# \{0,1\}//'

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/vocals-bridge ./bridge/cmd/vocals-bridge

run: build
	./bin/vocals-bridge $(ARGS)

# The binary's tests mostly wait on processes, so four run at once.
test:
	$(GO) test -race -count=1 -parallel 4 ./...

fuzz:
	$(GO) test ./bridge/internal/callback -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./bridge/internal/verify -run '^$$' -fuzz FuzzVerify -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./bridge/internal/provider -run '^$$' -fuzz FuzzRecordInfo -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./bridge/internal/provider -run '^$$' -fuzz FuzzDetails -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./bridge/internal/family -run '^$$' -fuzz FuzzFamilies -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./bridge/internal/archive -run '^$$' -fuzz FuzzPolicy -fuzztime $(FUZZTIME) -fuzzminimizetime 5s

bench: build
	$(GO) build -o bin/nats-server github.com/nats-io/nats-server/v2
	$(GO) build -o bin/vocals-bench ./bridge/bench/cmd/vocals-bench
	cd bridge/bench/peer && $(GO) vet ./... && $(GO) build -o ../../../bin/vocals-bench-peer .
	$(GO) test -run '^$$' -bench . -benchmem -count=1 ./bridge/... | tee bin/micro.txt
	cp BENCHMARKS.md bin/BENCHMARKS.before.md
	./bin/vocals-bench -bridge bin/vocals-bridge -nats-server bin/nats-server -peer bin/vocals-bench-peer -micro bin/micro.txt \
		-before bin/BENCHMARKS.before.md -out BENCHMARKS.md

bench-smoke:
	VOCALS_BENCH_SMOKE=1 $(GO) test -count=1 -run TestHarnessSmoke ./bridge/bench/cmd/vocals-bench

lint:
	@test -z "$$(gofmt -l bridge)" || { gofmt -l bridge; echo "gofmt needed"; exit 1; }
	$(GO) vet ./...

# Helm, Kubernetes and Prometheus libraries live in their own module so the
# bridge does not depend on them. The ecosystem linters: Grafana's
# dashboard-linter from SHARED_TOOLS, kubeconform and kube-score on PATH
# (.ci/run installs them from their Go modules), and kubeconform's schemas,
# made once per machine from the OpenAPI document inside the
# k8s.io/kubernetes module and kept in the Go build cache. A linter that is
# missing skips its test, except in CI.
SHARED_TOOLS ?= ../shared/tools
K8S_VERSION := 1.34.2
K8S_SCHEMAS = $(shell $(GO) env GOCACHE)/vocals-bridge-k8s-schemas-$(K8S_VERSION)
lint-deploy:
	@if [ ! -d "$(K8S_SCHEMAS)/v$(K8S_VERSION)-standalone-strict" ] && [ -f $(SHARED_TOOLS)/k8s-schemas.py ]; then \
		src=$$(cd / && GOFLAGS=-mod=mod $(GO) mod download -json k8s.io/kubernetes@v$(K8S_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p'); \
		rm -rf "$(K8S_SCHEMAS).tmp" && python3 $(SHARED_TOOLS)/k8s-schemas.py "$$src/api/openapi-spec/swagger.json" "$(K8S_SCHEMAS).tmp" v$(K8S_VERSION) && \
		mv "$(K8S_SCHEMAS).tmp" "$(K8S_SCHEMAS)"; fi
	cd bridge/deploycheck && $(GO) vet ./... && VOCALS_K8S_SCHEMAS="$(K8S_SCHEMAS)" \
		DASHBOARD_LINTER="$(abspath $(SHARED_TOOLS))/dashboard-linter" $(GO) test -count=1 ./...

# Jaeger is built from its Go module (bridge/tracecheck's tool) on the first
# run, a few minutes; the build cache keeps it.
trace-check:
	cd bridge/tracecheck && $(GO) vet ./... && $(GO) test -count=1 -timeout 20m ./...

# The operator console driven in Debian's headless Chromium (module
# bridge/consolecheck, chromedp); CONSOLECHECK_SCREENSHOT=file.png keeps the page.
console-check:
	cd bridge/consolecheck && $(GO) vet ./... && $(GO) test -count=1 -timeout 10m ./...

AJV := bin/ajv/node_modules/.bin/ajv validate --spec=draft2020 -c ./bin/ajv/node_modules/ajv-formats
lint-schemas:
	test -x bin/ajv/node_modules/.bin/ajv || npm install --silent --no-audit --no-fund --prefix bin/ajv ajv-cli@5 ajv-formats@3
	for g in bridge/event/testdata/golden/*.json; do \
		$(AJV) -s schemas/v1/event.schema.json -r schemas/v1/data.schema.json -d $$g || exit 1; done
	for d in bridge/event/testdata/golden/*/; do s=schemas/v1/$$(basename $$d).event.schema.json; \
		test $$(basename $$d) != vocals || s=schemas/v1/event.schema.json; \
		$(AJV) -s $$s -r "schemas/v1/*data.schema.json" -r schemas/v1/common.schema.json \
			-d "$$d*.json" || exit 1; done
	$(AJV) -s schemas/v1/submitted-event.schema.json -r schemas/v1/submitted.schema.json -d bridge/event/testdata/submitted.json
	$(AJV) -s schemas/v1/timeout-event.schema.json -r schemas/v1/data.schema.json -d bridge/event/testdata/timeout.json
	$(AJV) -s schemas/v1/archived-event.schema.json -r schemas/v1/archived.schema.json -d bridge/event/testdata/archived.json
	test -d bin/asyncapi/node_modules/@asyncapi/parser || npm install --silent --no-audit --no-fund --prefix bin/asyncapi @asyncapi/parser@3.6.6
	cp bridge/event/testdata/asyncapi-check.mjs bin/asyncapi/ && node bin/asyncapi/asyncapi-check.mjs schemas/asyncapi.yaml

# The simulator runs at 1/20 of real time with stages 1.5 s apart; the bridge
# (ports 18080-18082, NATS 14222, so `make run` can stay up) polls tasks 8 s
# after submission, and archives the media the simulator serves. Eight tasks
# in five families: four add-vocals tasks (normal, all callbacks lost,
# complete lost, failed with 531), a generate task with its stages, lyrics,
# a WAV conversion whose callback is lost and stem separation. tail exits
# after their fifteen events and the six archived events of the tasks that
# completed with media (--follow: it waits for those not yet stored); logs in
# data-demo/.
DEMO_ENV := VOCALS_BRIDGE_DATA_DIR=data-demo VOCALS_BRIDGE_HTTP_ADDR=127.0.0.1:18080 \
	VOCALS_BRIDGE_ADMIN_ADDR=127.0.0.1:18081 VOCALS_BRIDGE_EMBEDDED_NATS_ADDR=127.0.0.1:14222 \
	VOCALS_BRIDGE_WEBHOOK_HMAC_KEY=demo-hmac-key VOCALS_BRIDGE_TRACKING_ENABLED=true \
	VOCALS_BRIDGE_PROVIDER_BASE_URL=http://127.0.0.1:18090 VOCALS_BRIDGE_PROVIDER_API_KEY=demo-api-key \
	VOCALS_BRIDGE_TRACKING_POLL_AFTER=8s VOCALS_BRIDGE_TRACKING_POLL_INTERVAL=2s \
	VOCALS_BRIDGE_SUBMIT_ADDR=127.0.0.1:18082 \
	VOCALS_BRIDGE_ARCHIVE_ENABLED=true VOCALS_BRIDGE_ARCHIVE_ALLOWED_HOSTS=127.0.0.1 \
	VOCALS_BRIDGE_SUBMIT_CALLBACK_URL=http://127.0.0.1:18080/callbacks/vocals

demo: build
	$(GO) build -o bin/sunosim ./bridge/cmd/sunosim
	rm -rf data-demo && mkdir -p data-demo
	@set -e; trap 'kill $$SIM $$BRIDGE 2>/dev/null; wait 2>/dev/null' EXIT; \
	./bin/sunosim -addr 127.0.0.1:18090 -api-key demo-api-key -hmac-key demo-hmac-key \
		-scale 0.05 -stage-gap 30s -media > data-demo/sunosim.log 2>&1 & SIM=$$!; \
	env $(DEMO_ENV) ./bin/vocals-bridge > data-demo/bridge.log 2>&1 & BRIDGE=$$!; \
	for i in $$(seq 50); do ./bin/vocals-bridge probe http://127.0.0.1:18081/readyz >/dev/null 2>&1 && break; sleep 0.2; done; \
	./bin/vocals-bridge probe http://127.0.0.1:18081/readyz; \
	echo "== submitting eight tasks in five families through the bridge's submit proxy"; \
	./bin/sunosim submit -api http://127.0.0.1:18082 -n 4 -faults ";never;drop=complete;fail=531"; \
	./bin/sunosim submit -api http://127.0.0.1:18082 -family generate; \
	./bin/sunosim submit -api http://127.0.0.1:18082 -family lyrics; \
	./bin/sunosim submit -api http://127.0.0.1:18082 -family wav -faults never; \
	./bin/sunosim submit -api http://127.0.0.1:18082 -family stems; \
	echo "== events of every family, as they reach the stream (the lost ones come from polls; archived: the media kept):"; \
	timeout 60 ./bin/vocals-bridge tail --nats-url nats://127.0.0.1:14222 --all --follow --max 21; \
	echo "== done; logs in data-demo/"

clean:
	rm -rf bin data data-demo
