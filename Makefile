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
LAMBDAS         := $(notdir $(wildcard $(addprefix functions/,ingest worker streamconsumer keysync)))
LAMBDA_BINARIES := $(LAMBDAS:%=bin/lambda/%/bootstrap)

TOOLS_STAMP := infra/node_modules/.tools-stamp
EMULATORS   := .local/bin/emulators
# Runs a command with the emulators up on the test ports, then stops them. Tests
# that need the servers fail when they are missing (plain `go test` skips them).
WITH_TEST_EMULATORS = UPVEST_REQUIRE_LOCAL_SERVERS=1 $(EMULATORS) -dynamodb-port $(TEST_DYNAMODB_PORT) -sqs-port $(TEST_SQS_PORT) -log-dir .local/test-logs --


.DEFAULT_GOAL := build
.PHONY: tools build test run bench fmt vet clean FORCE

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

# functions/local starts the emulators itself (shared/localaws).
run: tools
	$(GO) run ./functions/local

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
