package keysynctest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// SSM fakes the SSM parameters GetParameter and PutParameter use (JSON 1.1
// protocol, X-Amz-Target AmazonSSM.*). Point an SDK client at URL
// (BaseEndpoint, or AWS_ENDPOINT_URL_SSM).
type SSM struct {
	URL string

	mu     sync.Mutex
	values map[string]string
	puts   int
	fail   bool
}

// NewSSM starts a fake holding the given parameters.
func NewSSM(t testing.TB, params map[string]string) *SSM {
	t.Helper()
	s := &SSM{values: map[string]string{}}
	for k, v := range params {
		s.values[k] = v
	}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Value returns a parameter's value and whether it exists.
func (s *SSM) Value(name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.values[name]
	return v, ok
}

// Puts counts the PutParameter calls that succeeded.
func (s *SSM) Puts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.puts
}

// FailWrites makes PutParameter answer AccessDeniedException.
func (s *SSM) FailWrites(fail bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = fail
}

func (s *SSM) serve(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name      string
		Value     string
		Type      string
		Tier      string
		Overwrite bool
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		awsError(w, "ValidationException", "body is not JSON")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.Header.Get("X-Amz-Target") {
	case "AmazonSSM.GetParameter":
		v, ok := s.values[in.Name]
		if !ok {
			awsError(w, "ParameterNotFound", "")
			return
		}
		writeAWS(w, map[string]any{"Parameter": map[string]any{"Name": in.Name, "Type": "String", "Value": v, "Version": 1}})
	case "AmazonSSM.PutParameter":
		if s.fail {
			awsError(w, "AccessDeniedException", "not allowed")
			return
		}
		if _, exists := s.values[in.Name]; exists && !in.Overwrite {
			awsError(w, "ParameterAlreadyExists", "")
			return
		}
		if in.Type != "String" {
			awsError(w, "ValidationException", "this fake holds String parameters only, got "+in.Type)
			return
		}
		// SSM's size limits per tier: the Standard tier (the default) holds
		// 4 KB, Advanced 8 KB; Intelligent-Tiering picks Advanced when needed.
		limit := 4096
		if in.Tier == "Advanced" || in.Tier == "Intelligent-Tiering" {
			limit = 8192
		}
		if len(in.Value) > limit {
			awsError(w, "ValidationException", "Standard tier parameters support a maximum parameter value of 4096 characters")
			return
		}
		s.values[in.Name] = in.Value
		s.puts++
		writeAWS(w, map[string]any{"Version": s.puts + 1, "Tier": "Standard"})
	default:
		awsError(w, "UnknownOperationException", r.Header.Get("X-Amz-Target"))
	}
}

// SecretsManager fakes GetSecretValue for string secrets (JSON 1.1 protocol,
// X-Amz-Target secretsmanager.*). Point an SDK client at URL (BaseEndpoint, or
// AWS_ENDPOINT_URL_SECRETS_MANAGER).
type SecretsManager struct {
	URL string

	mu      sync.Mutex
	secrets map[string]string
	reads   int
}

// NewSecretsManager starts a fake holding secrets by id (ARN or name).
func NewSecretsManager(t testing.TB, secrets map[string]string) *SecretsManager {
	t.Helper()
	s := &SecretsManager{secrets: map[string]string{}}
	for k, v := range secrets {
		s.secrets[k] = v
	}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Reads counts the GetSecretValue calls answered.
func (s *SecretsManager) Reads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads
}

func (s *SecretsManager) serve(w http.ResponseWriter, r *http.Request) {
	var in struct{ SecretId string }
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		awsError(w, "InvalidRequestException", "body is not JSON")
		return
	}
	if target := r.Header.Get("X-Amz-Target"); target != "secretsmanager.GetSecretValue" {
		awsError(w, "UnknownOperationException", target)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.secrets[in.SecretId]
	if !ok {
		awsError(w, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
		return
	}
	s.reads++
	writeAWS(w, map[string]any{"ARN": in.SecretId, "Name": in.SecretId, "SecretString": v, "VersionId": "v1"})
}

func writeAWS(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(v)
}

func awsError(w http.ResponseWriter, code, message string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": message})
}
