# upvest-webhooks: build, test and run locally (GNU make).

GO  ?= go
NPM ?= npm

# `make run` reads LOCAL_ADDR, LOCAL_DYNAMODB_PORT, LOCAL_SQS_PORT (defaults in
# shared/prod/config/local.go); `make test` and `make bench` use their own ports so
# that they can run while `make run` is up.
TEST_DYNAMODB_PORT ?= 18000
TEST_SQS_PORT      ?= 14566
# A package's -timeout catches a hang, not slowness: the ingest package took
# 12.5 min under the race detector on a 2-core box with a load of 13-18, so
# 20 min was within reach of a chance failure. Two phases at 30 min and the
# rest still end inside CI's 90.
TEST_TIMEOUT       ?= 30m

# The Lambdas: every one of these directories that exists under functions/.
LAMBDAS         := $(notdir $(wildcard $(addprefix functions/,ingest worker streamconsumer keysync subscription)))
LAMBDA_BINARIES := $(LAMBDAS:%=bin/lambda/%/bootstrap)

TOOLS_STAMP := infra/node_modules/.tools-stamp
EMULATORS   := .local/bin/emulators
# Runs a command with the emulators up on the test ports, then stops them. Tests
# that need the servers fail when they are missing (plain `go test` skips them).
WITH_TEST_EMULATORS = UPVEST_REQUIRE_LOCAL_SERVERS=1 $(EMULATORS) -dynamodb-port $(TEST_DYNAMODB_PORT) -sqs-port $(TEST_SQS_PORT) -log-dir .local/test-logs --


.DEFAULT_GOAL := build
.PHONY: tools build test run emulators chaos chaos-soak bench fmt vet clean FORCE

tools: $(TOOLS_STAMP) infra/node_modules/go.mod
	$(GO) mod download

# npm ci only when node_modules is missing or older than the lock file (npm
# writes node_modules/.package-lock.json on every install).
$(TOOLS_STAMP): infra/package-lock.json
	@if [ -f infra/node_modules/.package-lock.json ] && [ infra/node_modules/.package-lock.json -nt infra/package-lock.json ]; then \
		echo "infra/node_modules is up to date"; \
	else \
		echo "cd infra && $(NPM) ci --no-audit --no-fund"; \
		cd infra && $(NPM) ci --no-audit --no-fund; \
	fi
	printf 'module ignored\n' > infra/node_modules/go.mod
	touch $@

# Hides node_modules (which holds Go files) from `go build ./...`.
infra/node_modules/go.mod: | $(TOOLS_STAMP)
	printf 'module ignored\n' > $@

build: $(LAMBDA_BINARIES)

bin/lambda/%/bootstrap: FORCE
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -trimpath -ldflags="-s -w" -tags lambda.norpc -o $@ ./functions/$*

# Built, not `go run`, so that the exit code of the wrapped command comes through unchanged.
$(EMULATORS): FORCE
	$(GO) build -o $@ ./functions/emulators

test: tools $(EMULATORS)
	$(GO) vet ./...
	$(WITH_TEST_EMULATORS) $(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $$($(GO) list ./... | grep -v '/infra')
	# No race detector for the CDK tests: jsii-runtime-go races on its own node process (not our code).
	# The emulators are up for the deploy rehearsal (infra/rehearsal), which runs the real bootstraps.
	$(WITH_TEST_EMULATORS) $(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./infra/...
	$(MAKE) synth-check
	$(MAKE) fuzz FUZZTIME=$(FUZZTIME_SHORT)
	# A short chaos run, on its own servers on the test ports.
	LOCAL_DYNAMODB_PORT=$(TEST_DYNAMODB_PORT) LOCAL_SQS_PORT=$(TEST_SQS_PORT) $(MAKE) chaos CHAOS_EVENTS=$(CHAOS_EVENTS_SHORT) CHAOS_FLAGS='-addr 127.0.0.1:0 -dir .local/test-logs/chaos'

# functions/local attaches to the servers of `make emulators` when both answer
# on LOCAL_DYNAMODB_PORT / LOCAL_SQS_PORT, and starts its own otherwise.
# Built, then exec'd, not `go run`: make passes its SIGTERM (`kill <make's pid>`)
# on to its child, and the go command dies of it without passing it on, which
# left the pipeline and both servers running on their ports.
LOCAL_PIPELINE := .local/bin/local
run: tools
	$(GO) build -o $(LOCAL_PIPELINE) ./functions/local
	exec $(LOCAL_PIPELINE)

# DynamoDB Local and the SQS server, provisioned, until Ctrl-C: `make run` and
# `make chaos` attach to them. PERSIST=1 keeps DynamoDB's tables in
# EMULATORS_DATA across restarts (SQS messages are never kept: fauxqs cannot).
EMULATORS_DATA ?= .local/dynamodb-data
emulators: tools $(EMULATORS)
	$(EMULATORS) $(if $(PERSIST),-data-dir $(EMULATORS_DATA))

# Storms the `make run` pipeline with CHAOS_EVENTS events while SDK faults are
# injected, it dies at its crash points and is killed -9 twice, and checks that
# nothing acknowledged is lost, wrong or applied twice (functions/chaos).
# It prints its seed; CHAOS_SEED=<seed> replays a run's random choices.
CHAOS_EVENTS       ?= 10000
CHAOS_EVENTS_SHORT ?= 1000
CHAOS_FLAGS        ?=
CHAOS_SEED         ?=
chaos: tools
	$(GO) build -o $(LOCAL_PIPELINE) ./functions/local
	$(GO) build -o .local/bin/chaos ./functions/chaos
	.local/bin/chaos -events $(CHAOS_EVENTS) -pipeline $(LOCAL_PIPELINE) $(if $(CHAOS_SEED),-seed $(CHAOS_SEED)) $(CHAOS_FLAGS)

# The short chaos run of `make test`, SOAK_RUNS times in a row with seeds
# SOAK_SEED+1 .. SOAK_SEED+SOAK_RUNS and make test's fault rates; it stops at
# the first failure. Each run's output is in .local/soak/run-<n>.log.
SOAK_RUNS ?= 30
SOAK_SEED ?= $(shell date +%s)
chaos-soak: tools
	$(GO) build -o $(LOCAL_PIPELINE) ./functions/local
	$(GO) build -o .local/bin/chaos ./functions/chaos
	@mkdir -p .local/soak; start=$$(date +%s); \
	for i in $$(seq 1 $(SOAK_RUNS)); do \
		seed=$$(( $(SOAK_SEED) + i )); log=.local/soak/run-$$i.log; \
		if .local/bin/chaos -events $(CHAOS_EVENTS_SHORT) -seed $$seed -pipeline $(LOCAL_PIPELINE) $(CHAOS_FLAGS) -dir .local/soak/run-$$i > $$log 2>&1; then \
			now=$$(date +%s); \
			echo "chaos-soak: run $$i/$(SOAK_RUNS) seed $$seed OK in $$(( now - start ))s so far, ETA $$(( (now - start) * ($(SOAK_RUNS) - i) / i ))s;" \
				"$$(grep -E '^(dead-lettered|lost):' $$log | tr -s ' ' | paste -sd';' -)"; \
		else \
			tail -40 $$log; \
			echo "chaos-soak: run $$i/$(SOAK_RUNS) FAILED with seed $$seed (CHAOS_SEED=$$seed replays it; log $$log); $$(( i - 1 )) passed in a row"; \
			exit 1; \
		fi; \
	done; \
	echo "chaos-soak: all $(SOAK_RUNS) runs passed, seeds $$(( $(SOAK_SEED) + 1 ))..$$(( $(SOAK_SEED) + $(SOAK_RUNS) )), in $$(( $$(date +%s) - start ))s"

# Go native fuzz targets, one `go test -fuzz` per target (it takes only one):
# `make fuzz` runs each for FUZZTIME, `make test` for FUZZTIME_SHORT. Inputs
# that fail are written to the package's testdata/fuzz and then run by `go test`.
# Go 1.26's fuzz coordinator can race its own -fuzztime deadline and fail a
# target with a bare "context deadline exceeded" and no failing input
# (golang/go#75804, fixed in Go 1.27). A count (-fuzztime 50000x) sets no
# deadline, so the race cannot happen: `make test` uses one, so that the gate
# never fails by chance; keep it a count. A timed run that hits the race, and
# only such a run, is run once more; any other failure, or that one twice, fails. Each attempt
# writes its own exit code (set +e: under set -e a failing `go test` would end
# the group before it, and the check would read none, or an earlier target's);
# no exit code read counts as a failure. shared/testkit/maketest tests this.
FUZZ_PACKAGES  ?= ./events ./shared/prod/signature
FUZZTIME       ?= 60s
FUZZTIME_SHORT ?= 50000x
.PHONY: fuzz
fuzz:
	@set -e; log=$$(mktemp); trap 'rm -f $$log $$log.rc' EXIT; \
	for pkg in $(FUZZ_PACKAGES); do \
		for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			for attempt in 1 2; do \
				echo "fuzz $$pkg $$target ($(FUZZTIME))"; \
				rm -f $$log.rc; \
				{ set +e; $(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 1s $$pkg 2>&1; echo $$? > $$log.rc; } | tee $$log; \
				if [ ! -s $$log.rc ]; then echo "fuzz: $$target: no exit code recorded" >&2; exit 1; fi; \
				if [ "$$(cat $$log.rc)" = 0 ]; then break; fi; \
				if [ $$attempt = 1 ] && ! grep -q 'Failing input written' $$log \
					&& [ "$$(grep -A1 '^--- FAIL: ' $$log | sed -n 2p | tr -d '[:space:]')" = contextdeadlineexceeded ] \
					&& [ "$$(grep -c -e '^--- FAIL: ' -e '^panic: ' $$log)" = 1 ]; then \
					echo "fuzz: $$target stopped on Go's own fuzztime deadline race (golang/go#75804), no input failed; running it again"; \
					continue; \
				fi; \
				exit 1; \
			done; \
		done; \
	done

# Each benchmark on its own, with local servers of its own: side-by-side
# ratios are only fair with nothing else on the machine, and DynamoDB Local
# slows down as items pile up in it (the rebuild benchmarks write hundreds of
# thousands), which the next benchmark would otherwise measure. A failing
# benchmark stops the run.
BENCH_TIMEOUT ?= 45m
bench: tools $(EMULATORS)
	@set -e; for pkg in $$($(GO) list -f '{{.Dir}}={{.ImportPath}}' ./...); do \
		for name in $$(grep -hos '^func Benchmark[A-Za-z0-9_]*' $${pkg%%=*}/*_test.go | sed 's/^func //'); do \
			echo "bench: $${pkg#*=} $$name"; \
			$(WITH_TEST_EMULATORS) $(GO) test -run '^$$' -bench "^$$name\$$" -benchmem -timeout $(BENCH_TIMEOUT) $${pkg#*=}; \
		done; \
	done

# The capacity model of the README's Capacity section (shared/testkit/capacity), at the
# stack's defaults; `go run ./functions/capacity -h` for other settings.
.PHONY: capacity nightly
capacity:
	$(GO) run ./functions/capacity

# The nightly-batch rehearsal: NIGHTLY_EVENTS POSITION and CASH_BALANCE events
# through ingest on the latency-modelled ports and modelled workers, on a
# virtual clock (a minute or two of CPU; `make test` runs a small one).
NIGHTLY_EVENTS ?= 200000
nightly:
	UPVEST_NIGHTLY_EVENTS=$(NIGHTLY_EVENTS) $(GO) test -count=1 -timeout 30m -run '^TestNightlyBatchRehearsal$$' -v ./shared/testkit/perf

fmt:
	$(GO) fmt ./...

vet:
	$(GO) vet ./...

clean:
	rm -rf bin .local infra/cdk.out

FORCE:

include infra/cdk.mk
