package stack

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

func TestTracingIsOffByDefault(t *testing.T) {
	c, err := Load(contextOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.OTelTraces != OTelOff || c.TracingEnvironment("eu-central-1") != nil {
		t.Errorf("default: otelTraces %q, environment %v", c.OTelTraces, c.TracingEnvironment("eu-central-1"))
	}
}

func TestTracingEnvironmentPerMode(t *testing.T) {
	for mode, want := range map[string]map[string]string{
		OTelXRay: {
			"OTEL_TRACES_EXPORTER":               "otlp",
			"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://xray.eu-central-1.amazonaws.com/v1/traces",
		},
		OTelConsole:   {"OTEL_TRACES_EXPORTER": "console"},
		OTelCollector: {"OTEL_TRACES_EXPORTER": "otlp"},
	} {
		ctx := map[string]any{"otelTraces": mode}
		if mode == OTelCollector {
			ctx["otelCollectorLayerArn"] = "arn:aws:lambda:eu-central-1:123456789012:layer:otel-collector:1"
		}
		c, err := Load(contextOf(ctx))
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if got := c.TracingEnvironment("eu-central-1"); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %v, want %v", mode, got, want)
		}
	}
}

func TestTracingContextIsValidated(t *testing.T) {
	for name, ctx := range map[string]map[string]any{
		"unknown mode":             {"otelTraces": "jaeger"},
		"collector without layer":  {"otelTraces": "collector"},
		"layer without collector":  {"otelCollectorLayerArn": "arn:aws:lambda:eu-central-1:123456789012:layer:x:1"},
		"layer that is not an ARN": {"otelTraces": "collector", "otelCollectorLayerArn": "otel-layer"},
	} {
		_, err := Load(contextOf(ctx))
		if err == nil || !strings.Contains(err.Error(), "otel") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

// A function synthesized with the collector mode gets the layer and the
// exporter variable; with xray, the endpoint of the stack's own region.
func TestTracedFunctionTemplate(t *testing.T) {
	for _, mode := range []string{OTelCollector, OTelXRay} {
		ctx := map[string]any{"otelTraces": mode}
		const layer = "arn:aws:lambda:eu-central-1:123456789012:layer:otel-collector:1"
		if mode == OTelCollector {
			ctx["otelCollectorLayerArn"] = layer
		}
		cfg, err := Load(contextOf(ctx))
		if err != nil {
			t.Fatal(err)
		}
		cfg.AssetsDir = assetsDir
		app := awscdk.NewApp(nil)
		st := awscdk.NewStack(app, jsii.String("T"), nil)
		NewGoFunction(st, "Fn", GoFunctionProps{Config: cfg, Asset: AssetIngest, Description: "traced", MemoryMB: 128, Timeout: time.Second,
			Environment: map[string]string{"LOG_LEVEL": "info"}})
		tp := parseTemplate(t, *assertions.Template_FromStack(st, nil).ToJSON())
		ids := tp.ofType("AWS::Lambda::Function")
		if len(ids) != 1 {
			t.Fatalf("%d functions", len(ids))
		}
		p := tp.Resources[ids[0]].Properties
		vars := dig(p, "Environment", "Variables")
		if dig(vars, "OTEL_TRACES_EXPORTER") != "otlp" || dig(vars, "LOG_LEVEL") != "info" {
			t.Errorf("%s: environment %v", mode, vars)
		}
		switch mode {
		case OTelCollector:
			if !reflect.DeepEqual(p["Layers"], []any{layer}) {
				t.Errorf("layers %v", p["Layers"])
			}
		case OTelXRay:
			want := map[string]any{"Fn::Join": []any{"", []any{"https://xray.", map[string]any{"Ref": "AWS::Region"}, ".amazonaws.com/v1/traces"}}}
			if got := dig(vars, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"); !reflect.DeepEqual(got, want) {
				t.Errorf("endpoint %v", got)
			}
			if p["Layers"] != nil {
				t.Errorf("xray mode adds layers %v", p["Layers"])
			}
		}
	}
}
