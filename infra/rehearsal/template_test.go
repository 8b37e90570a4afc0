package rehearsal

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// template is a synthesized CloudFormation template, as JSON.
type template struct {
	Resources map[string]resource `json:"Resources"`
	Outputs   map[string]struct {
		Value any `json:"Value"`
	} `json:"Outputs"`
}

type resource struct {
	Type       string         `json:"Type"`
	Properties map[string]any `json:"Properties"`
}

// ofType lists the logical ids of a resource type, sorted.
func (tp *template) ofType(typ string) []string {
	var ids []string
	for id, r := range tp.Resources {
		if r.Type == typ {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// outputRef is the logical id an output's {"Ref": id} points at.
func (tp *template) outputRef(t testing.TB, name string) string {
	t.Helper()
	out, ok := tp.Outputs[name]
	if !ok {
		t.Fatalf("template has no output %s", name)
	}
	id := ref(out.Value)
	if id == "" {
		t.Fatalf("output %s is %v, not a Ref", name, out.Value)
	}
	return id
}

// ref returns id for {"Ref": id}, else "".
func ref(v any) string {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return ""
	}
	id, _ := m["Ref"].(string)
	return id
}

// getAtt returns id for {"Fn::GetAtt": [id, attr]}, else "".
func getAtt(v any, attr string) string {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return ""
	}
	parts, _ := m["Fn::GetAtt"].([]any)
	if len(parts) != 2 || parts[1] != attr {
		return ""
	}
	id, _ := parts[0].(string)
	return id
}

// triggeredBy returns the function an event source mapping on source (a
// GetAtt of sourceID's attr) invokes, and the mapping's properties.
func (tp *template) triggeredBy(t testing.TB, sourceID, attr string) (string, map[string]any) {
	t.Helper()
	var found []string
	var props map[string]any
	for _, id := range tp.ofType("AWS::Lambda::EventSourceMapping") {
		p := tp.Resources[id].Properties
		if getAtt(p["EventSourceArn"], attr) == sourceID {
			found = append(found, ref(p["FunctionName"]))
			props = p
		}
	}
	if len(found) != 1 || found[0] == "" {
		t.Fatalf("want one event source mapping from %s.%s to a function, found %v", sourceID, attr, found)
	}
	return found[0], props
}

// routeTarget returns the route key of the API route, and the function its
// integration invokes.
func (tp *template) routeTarget(t testing.TB) (routeKey, function string) {
	t.Helper()
	routes := tp.ofType("AWS::ApiGatewayV2::Route")
	if len(routes) != 1 {
		t.Fatalf("want one API route, found %v", routes)
	}
	p := tp.Resources[routes[0]].Properties
	routeKey, _ = p["RouteKey"].(string)
	// Target is {"Fn::Join": ["", ["integrations/", {"Ref": integration}]]}.
	target := fmt.Sprint(p["Target"])
	for _, id := range tp.ofType("AWS::ApiGatewayV2::Integration") {
		if strings.Contains(target, "map[Ref:"+id+"]") {
			ip := tp.Resources[id].Properties
			if v, _ := ip["PayloadFormatVersion"].(string); v != "2.0" {
				t.Fatalf("integration %s uses payload format %q; the rehearsal sends 2.0", id, v)
			}
			function = getAtt(ip["IntegrationUri"], "Arn")
		}
	}
	if routeKey == "" || function == "" {
		t.Fatalf("route %s: key %q, no Lambda integration found (target %s)", routes[0], routeKey, target)
	}
	return routeKey, function
}

// function is what the rehearsal needs of an AWS::Lambda::Function.
type function struct {
	ID       string
	Env      map[string]any // values: strings or intrinsic functions
	MemoryMB int
	TimeoutS int
	Handler  string
	Runtime  string
}

func (tp *template) function(t testing.TB, id string) function {
	t.Helper()
	r, ok := tp.Resources[id]
	if !ok || r.Type != "AWS::Lambda::Function" {
		t.Fatalf("%s is not a Lambda function in the template", id)
	}
	p := r.Properties
	env, _ := p["Environment"].(map[string]any)
	vars, _ := env["Variables"].(map[string]any)
	memory, _ := p["MemorySize"].(float64)
	timeout, _ := p["Timeout"].(float64)
	handler, _ := p["Handler"].(string)
	runtime, _ := p["Runtime"].(string)
	return function{ID: id, Env: vars, MemoryMB: int(memory), TimeoutS: int(timeout), Handler: handler, Runtime: runtime}
}
