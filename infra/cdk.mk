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

# What `make test` runs: both environments synthesize offline, and live once
# more with provisioned capacity (auto scaling, throttle alarms), cdk-nag finds
# nothing (the app fails the synth on an unsuppressed finding), and the templates exist.
synth-check: tools
	@$(MAKE) --no-print-directory cdkapp
	@for check in sandbox live live-provisioned; do \
		case $$check in \
			live-provisioned) env=live; args="-c capacityMode=provisioned";; \
			*) env=$$check; args="";; \
		esac; \
		out=$(CDK_OUT)/check-$$check; \
		rm -rf infra/$$out; mkdir -p infra/$(CDK_OUT); \
		( cd infra && $(CDK_CHECK_ENV) CI=true $(CDK_CLI) synth --quiet --app $(CDK_APP_BIN) -o $$out \
			--no-notices --no-version-reporting -c env=$$env $$args >$$out.log 2>&1 ) \
			|| { cat infra/$$out.log; echo "synth-check: cdk synth failed for $$check"; exit 1; }; \
		test -s infra/$$out/upvest-webhooks-$$env.template.json \
			|| { echo "synth-check: no template for $$check in infra/$$out"; exit 1; }; \
		rm -f infra/$$out.log; \
	done
	@echo "synth-check: sandbox, live and live with provisioned capacity synthesized, cdk-nag clean"

# The three below talk to AWS, with the credentials of your shell (AWS_PROFILE ...).
# Deploy asks before widening IAM or security groups (requireApproval: broadening in cdk.json).
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
