package rehearsal

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// fakeSSM answers SSM's GetParameter (JSON 1.1 protocol: POST / with
// X-Amz-Target AmazonSSM.GetParameter) for one parameter: there is no SSM
// emulator, and ingest reads Upvest's JWKS from SSM. The SDK reaches it
// through AWS_ENDPOINT_URL_SSM.
type fakeSSM struct {
	URL   string
	reads atomic.Int64 // GetParameter calls for the parameter
}

func newFakeSSM(t testing.TB, name, value string) *fakeSSM {
	f := &fakeSSM{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		var in struct {
			Name string `json:"Name"`
		}
		if r.Method != http.MethodPost || r.Header.Get("X-Amz-Target") != "AmazonSSM.GetParameter" {
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"__type": "UnknownOperationException", "message": r.Header.Get("X-Amz-Target")})
			return
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Name != name {
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"__type": "ParameterNotFound", "message": "no parameter " + in.Name})
			return
		}
		f.reads.Add(1)
		_ = json.NewEncoder(w).Encode(map[string]any{"Parameter": map[string]any{
			"Name": name, "Type": "String", "Value": value, "Version": 1, "DataType": "text",
			"ARN": "arn:aws:ssm:eu-central-1:000000000000:parameter" + name, "LastModifiedDate": 1.7e9,
		}})
	}))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}
