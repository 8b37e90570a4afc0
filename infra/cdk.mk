# CDK targets, included by the top-level Makefile. Each installs the pinned
# CLI first (tools); the CDK app builds the Lambda binaries itself on every
# synth (infra/stack/build.go), so no target needs `make build`.
#
#   make synth                          sandbox template in infra/cdk.out
#   make synth CDK_ENV=live             live template
#   make diff|deploy|destroy CDK_ENV=live CDK_ARGS="-c alarmEmail=ops@example.com"
#
# Every setting is CDK context (-c key=value via CDK_ARGS); see infra/stack/config.go.

GO          ?= go
CDK_ENV     ?= sandbox
CDK_ARGS    ?=
CDK_APP_BIN ?= $(CURDIR)/bin/cdkapp
CDK_OUT     ?= cdk.out

# Nothing phones home: no version check, no notices (flags), no usage reporting.
CDK_QUIET_ENV := CDK_DISABLE_VERSION_CHECK=true
# synth-check also hides jsii's banner about this machine's Node 20 (a known, harmless EOL notice).
CDK_CHECK_ENV := $(CDK_QUIET_ENV) JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20
CDK_CLI       := npx --no-install cdk
CDK_FLAGS      = --app $(CDK_APP_BIN) -o $(CDK_OUT) --no-notices --no-version-reporting \
                 -c env=$(CDK_ENV) $(CDK_ARGS)

.PHONY: cdkapp synth synth-check diff deploy destroy bootstrap

# The CDK app as a binary: the CLI runs it in seconds instead of `go run`.
cdkapp:
	$(GO) build -o $(CDK_APP_BIN) ./infra

synth: tools cdkapp
	cd infra && $(CDK_QUIET_ENV) CI=true $(CDK_CLI) synth $(CDK_FLAGS)

# What `make test` runs: each variant of SYNTH_CHECKS synthesizes offline with
# the pinned CLI, cdk-nag finds nothing (the app fails the synth on an
# unsuppressed finding), and, when cfn-lint is installed, cfn-lint finds no
# error in any template (one run over all of them). The variants are what a
# first deploy can meet: each option alone, and all of them at once.
SYNTH_CHECKS ?= sandbox live live-provisioned keysync xray consumer all-options
SYNTH_CERT   := arn:aws:acm:eu-central-1:123456789012:certificate/11111111-2222-3333-4444-555555555555
SYNTH_SECRET := arn:aws:secretsmanager:eu-central-1:123456789012:secret:upvest-api-AbCdEf
SYNTH_LIVE   := -c alarmEmail=ops@example.com -c domainName=webhooks.example.com -c certificateArn=$(SYNTH_CERT)
# W3005 (a DependsOn that another reference already implies) is how CDK writes
# construct dependencies; it is harmless, so it is the one rule left out.
CFN_LINT_FLAGS ?= --ignore-checks W3005
synth-check: tools
	@$(MAKE) --no-print-directory cdkapp
	@start=$$(date +%s); templates=""; \
	for check in $(SYNTH_CHECKS); do \
		case $$check in \
			sandbox)          env=sandbox; args="";; \
			live)             env=live;    args="$(SYNTH_LIVE)";; \
			live-provisioned) env=live;    args="-c capacityMode=provisioned";; \
			keysync)          env=sandbox; args="-c upvestApiSecretArn=$(SYNTH_SECRET)";; \
			xray)             env=sandbox; args="-c otelTraces=xray";; \
			consumer)         env=sandbox; args="-c exampleStreamConsumer=true";; \
			all-options)      env=live;    args="$(SYNTH_LIVE) -c basePath=upvest -c ingestReservedConcurrency=50 \
				-c capacityMode=provisioned -c upvestApiSecretArn=$(SYNTH_SECRET) -c otelTraces=xray -c exampleStreamConsumer=true \
				-c upvestSubscription=true";; \
			*) echo "synth-check: unknown check $$check"; exit 2;; \
		esac; \
		out=$(CDK_OUT)/check-$$check; \
		rm -rf infra/$$out; mkdir -p infra/$(CDK_OUT); \
		( cd infra && AWS_REGION=eu-central-1 AWS_DEFAULT_REGION=eu-central-1 $(CDK_CHECK_ENV) CI=true \
			$(CDK_CLI) synth --quiet --app $(CDK_APP_BIN) -o $$out \
			--no-notices --no-version-reporting -c env=$$env $$args >$$out.log 2>&1 ) \
			|| { cat infra/$$out.log; echo "synth-check: cdk synth failed for $$check"; exit 1; }; \
		test -s infra/$$out/upvest-webhooks-$$env.template.json \
			|| { echo "synth-check: no template for $$check in infra/$$out"; exit 1; }; \
		rm -f infra/$$out.log; \
		templates="$$templates infra/$$out/upvest-webhooks-$$env.template.json"; \
	done; \
	echo "synth-check: $(SYNTH_CHECKS) synthesized, cdk-nag clean ($$(( $$(date +%s) - start )) s)"; \
	if command -v cfn-lint >/dev/null 2>&1; then \
		start=$$(date +%s); \
		cfn-lint $(CFN_LINT_FLAGS) -- $$templates || { echo "synth-check: cfn-lint found problems (above)"; exit 1; }; \
		echo "synth-check: cfn-lint $$(cfn-lint --version | cut -d' ' -f2) clean on every template ($$(( $$(date +%s) - start )) s)"; \
	else \
		echo "synth-check: SKIPPED cfn-lint: not installed (pip install cfn-lint); the templates were not linted"; \
	fi

# The three below talk to AWS, with the credentials of your shell (AWS_PROFILE ...).
# Deploy asks before widening IAM or security groups (requireApproval: broadening in cdk.json);
# without a terminal (CI) that question cannot be answered, so there pass
# CDK_ARGS="--require-approval never" (after reviewing `make diff`).
diff: tools cdkapp
	cd infra && $(CDK_QUIET_ENV) $(CDK_CLI) diff $(CDK_FLAGS)

deploy: tools cdkapp
	cd infra && $(CDK_QUIET_ENV) $(CDK_CLI) deploy $(CDK_FLAGS)

# Tables are retained (and deletion-protected): destroy removes everything else.
destroy: tools cdkapp
	cd infra && $(CDK_QUIET_ENV) $(CDK_CLI) destroy $(CDK_FLAGS)

# Once per account and region: CDK_BOOTSTRAP_ENV=aws://<ACCOUNT_ID>/<REGION>.
bootstrap: tools
	@test -n "$(CDK_BOOTSTRAP_ENV)" || { echo "bootstrap: set CDK_BOOTSTRAP_ENV=aws://<ACCOUNT_ID>/<REGION>"; exit 1; }
	cd infra && $(CDK_QUIET_ENV) $(CDK_CLI) bootstrap --no-notices --no-version-reporting $(CDK_BOOTSTRAP_ENV)
