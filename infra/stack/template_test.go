package stack

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
)

// template is a synthesized CloudFormation template, navigated in plain Go:
// the tests follow Refs from one resource to the next, so they check the
// wiring (which queue feeds which worker), not just that resources exist.
type template struct {
	Resources map[string]resource
	Outputs   map[string]map[string]any
}

type resource struct {
	Type           string
	Properties     map[string]any
	DeletionPolicy string
	UpdateReplace  string `json:"UpdateReplacePolicy"`
	DependsOn      any
	Metadata       map[string]any
}

func parseTemplate(t testing.TB, raw map[string]any) *template {
	t.Helper()
	b, err := json.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	var tp template
	if err := json.Unmarshal(b, &tp); err != nil {
		t.Fatal(err)
	}
	return &tp
}

// ofType returns the logical ids of every resource of a type, sorted.
func (tp *template) ofType(typ string) []string {
	var ids []string
	for id, r := range tp.Resources {
		if r.Type == typ {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// get returns the resource, failing the test if it is missing or of another type.
func (tp *template) get(t testing.TB, id, typ string) resource {
	t.Helper()
	r, ok := tp.Resources[id]
	if !ok {
		t.Fatalf("no resource %q", id)
	}
	if r.Type != typ {
		t.Fatalf("resource %q is a %s, want %s", id, r.Type, typ)
	}
	return r
}

// dig walks nested maps and slices: dig(props, "Environment", "Variables", "DOMAIN").
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			s, ok := v.([]any)
			if !ok || k >= len(s) {
				return nil
			}
			v = s[k]
		}
	}
	return v
}

// refID returns the logical id of {"Ref": id}.
func refID(v any) string {
	if m, ok := v.(map[string]any); ok && len(m) == 1 {
		if s, ok := m["Ref"].(string); ok {
			return s
		}
	}
	return ""
}

// getAtt returns the logical id of {"Fn::GetAtt": [id, attr]}.
func getAtt(v any, attr string) string {
	if m, ok := v.(map[string]any); ok && len(m) == 1 {
		if s, ok := m["Fn::GetAtt"].([]any); ok && len(s) == 2 && s[1] == attr {
			id, _ := s[0].(string)
			return id
		}
	}
	return ""
}

// render flattens intrinsics to text: Refs become ${Id}, GetAtts ${Id.Attr},
// and Fn::Join joins, so an ARN can be compared as one string.
func render(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64, bool:
		return fmt.Sprint(x)
	case map[string]any:
		if id := refID(x); id != "" {
			return "${" + id + "}"
		}
		if ga, ok := x["Fn::GetAtt"].([]any); ok && len(ga) == 2 {
			return fmt.Sprintf("${%v.%v}", ga[0], ga[1])
		}
		if j, ok := x["Fn::Join"].([]any); ok && len(j) == 2 {
			parts, _ := j[1].([]any)
			out := make([]string, len(parts))
			for i, p := range parts {
				out[i] = render(p)
			}
			return strings.Join(out, fmt.Sprint(j[0]))
		}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// strings of a value that CloudFormation allows as one string or a list.
func stringsOf(v any) []string {
	switch x := v.(type) {
	case []any:
		out := make([]string, len(x))
		for i, e := range x {
			out[i] = render(e)
		}
		return out
	case nil:
		return nil
	default:
		return []string{render(x)}
	}
}

// grant is one allowed (action, resource) pair of a role's policies.
type grant struct{ Action, Resource string }

func (g grant) String() string { return g.Action + " on " + g.Resource }

// grantsOf expands every statement attached to a role into (action, resource)
// pairs. It fails on anything that is not a plain Allow with explicit actions
// and resources, and on managed or inline policies, which would escape the check.
func (tp *template) grantsOf(t testing.TB, roleID string) map[grant]bool {
	t.Helper()
	role := tp.get(t, roleID, "AWS::IAM::Role")
	if role.Properties["ManagedPolicyArns"] != nil || role.Properties["Policies"] != nil {
		t.Errorf("role %s has managed or inline policies: %v %v", roleID, role.Properties["ManagedPolicyArns"], role.Properties["Policies"])
	}
	out := map[grant]bool{}
	for _, pid := range tp.ofType("AWS::IAM::Policy") {
		p := tp.Resources[pid].Properties
		attached := false
		for _, r := range p["Roles"].([]any) {
			attached = attached || refID(r) == roleID
		}
		if !attached {
			continue
		}
		for _, s := range dig(p, "PolicyDocument", "Statement").([]any) {
			st := s.(map[string]any)
			for k := range st {
				if k != "Effect" && k != "Action" && k != "Resource" {
					t.Errorf("role %s: statement has %s: %v", roleID, k, st)
				}
			}
			if st["Effect"] != "Allow" {
				t.Errorf("role %s: statement is not an Allow: %v", roleID, st)
			}
			for _, a := range stringsOf(st["Action"]) {
				for _, r := range stringsOf(st["Resource"]) {
					out[grant{a, r}] = true
				}
			}
		}
	}
	return out
}

// grants builds the expected set: every action on every resource.
func grants(actions []string, resources ...string) map[grant]bool {
	out := map[grant]bool{}
	for _, a := range actions {
		for _, r := range resources {
			out[grant{a, r}] = true
		}
	}
	return out
}

func union(sets ...map[grant]bool) map[grant]bool {
	out := map[grant]bool{}
	for _, s := range sets {
		for g := range s {
			out[g] = true
		}
	}
	return out
}

// diffGrants reports what is granted but not expected, and expected but not granted.
func diffGrants(got, want map[grant]bool) (extra, missing []string) {
	for g := range got {
		if !want[g] {
			extra = append(extra, g.String())
		}
	}
	for g := range want {
		if !got[g] {
			missing = append(missing, g.String())
		}
	}
	sort.Strings(extra)
	sort.Strings(missing)
	return extra, missing
}

// dependsOn reports whether CloudFormation creates resource b before a (and
// deletes it after a): a DependsOn b, or refers to it (Ref, Fn::GetAtt),
// directly or through other resources.
func (tp *template) dependsOn(a, b string) bool {
	seen := map[string]bool{}
	var walk func(id string) bool
	walk = func(id string) bool {
		if seen[id] {
			return false
		}
		seen[id] = true
		r := tp.Resources[id]
		for _, d := range append(stringsOf(r.DependsOn), referencedIDs(r.Properties)...) {
			if d == b || walk(d) {
				return true
			}
		}
		return false
	}
	return walk(a)
}
