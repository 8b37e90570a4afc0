# upvest-webhooks: build, test and run locally (GNU make).

GO  ?= go
NPM ?= npm

# `make run` reads LOCAL_ADDR, LOCAL_DYNAMODB_PORT, LOCAL_SQS_PORT (defaults in
# shared/config/local.go); `make test` and `make bench` use their own ports so
# that they can run while `make run` is up.
TEST_DYNAMODB_PORT ?= 18000
TEST_SQS_PORT      ?= 14566
TEST_TIMEOUT       ?= 20m

# The Lambdas: every one of these directories that exists under functions/.
LAMBDAS         := $(notdir $(wildcard $(addprefix functions/,ingest worker streamconsumer keysync subscription)))
LAMBDA_BINARIES := $(LAMBDAS:%=bin/lambda/%/bootstrap)

TOOLS_STAMP := infra/node_modules/.tools-stamp
EMULATORS   := .local/bin/emulators
# Runs a command with the emulators up on the test ports, then stops them. Tests
# that need the servers fail when they are missing (plain `go test` skips them).
WITH_TEST_EMULATORS = UPVEST_REQUIRE_LOCAL_SERVERS=1 $(EMULATORS) -dynamodb-port $(TEST_DYNAMODB_PORT) -sqs-port $(TEST_SQS_PORT) -log-dir .local/test-logs --


.DEFAULT_GOAL := build
.PHONY: tools build test run emulators chaos bench fmt vet clean FORCE

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
run: tools
	$(GO) run ./functions/local

# DynamoDB Local and the SQS server, provisioned, until Ctrl-C: `make run` and
# `make chaos` attach to them. PERSIST=1 keeps DynamoDB's tables in
# EMULATORS_DATA across restarts (SQS messages are never kept: fauxqs cannot).
EMULATORS_DATA ?= .local/dynamodb-data
emulators: tools $(EMULATORS)
	$(EMULATORS) $(if $(PERSIST),-data-dir $(EMULATORS_DATA))

# Storms the `make run` pipeline with CHAOS_EVENTS events while SDK faults are
# injected, it dies at its crash points and is killed -9 twice, and checks that
# nothing acknowledged is lost, wrong or applied twice (functions/chaos).
CHAOS_EVENTS       ?= 10000
CHAOS_EVENTS_SHORT ?= 1000
CHAOS_FLAGS        ?=
LOCAL_PIPELINE     := .local/bin/local
chaos: tools
	$(GO) build -o $(LOCAL_PIPELINE) ./functions/local
	$(GO) build -o .local/bin/chaos ./functions/chaos
	.local/bin/chaos -events $(CHAOS_EVENTS) -pipeline $(LOCAL_PIPELINE) $(CHAOS_FLAGS)

# Go native fuzz targets, one `go test -fuzz` per target (it takes only one):
# `make fuzz` runs each for FUZZTIME, `make test` for FUZZTIME_SHORT. Inputs
# that fail are written to the package's testdata/fuzz and then run by `go test`.
FUZZ_PACKAGES  ?= ./events ./shared/signature
FUZZTIME       ?= 60s
FUZZTIME_SHORT ?= 4s
.PHONY: fuzz
fuzz:
	@set -e; for pkg in $(FUZZ_PACKAGES); do \
		for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$target ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 1s $$pkg; \
		done; \
	done

bench: tools $(EMULATORS)
	$(WITH_TEST_EMULATORS) $(GO) test -run '^$$' -bench . -benchmem -timeout $(TEST_TIMEOUT) ./...

fmt:
	$(GO) fmt ./...

vet:
	$(GO) vet ./...

clean:
	rm -rf bin .local infra/cdk.out

FORCE:

include infra/cdk.mk
