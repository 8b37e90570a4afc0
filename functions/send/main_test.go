package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/upvest-webhooks/upvest-webhooks/events/upvesttest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/signature"
)

// verifyingServer answers 200 to requests signed by a key in jwksPath, 401 otherwise.
func verifyingServer(t *testing.T, jwksPath string) *httptest.Server {
	t.Helper()
	keys, err := signature.FileKeys(jwksPath)
	if err != nil {
		t.Fatal(err)
	}
	v := signature.NewVerifier(keys, signature.Options{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		err := v.Verify(r.Context(), signature.Request{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header, Body: body})
		switch {
		case errors.Is(err, signature.ErrUnauthenticated):
			http.Error(w, "unauthenticated", http.StatusUnauthorized)
		case err != nil:
			http.Error(w, "internal", http.StatusInternalServerError)
		default:
			_, _ = io.WriteString(w, "ok "+r.Header.Get("Upvest-Signature-Version"))
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestKeygenThenSend(t *testing.T) {
	dir := t.TempDir()
	var out, errs bytes.Buffer
	if code := run(context.Background(), []string{"keygen", "-dir", dir}, &out, &errs); code != 0 {
		t.Fatalf("keygen exit %d: %s", code, errs.String())
	}
	kid := strings.TrimSpace(out.String())
	if len(kid) != 36 {
		t.Fatalf("keygen printed %q, want a kid", kid)
	}
	srv := verifyingServer(t, filepath.Join(dir, "dev-jwks.json"))
	common := []string{"-url", srv.URL + "/webhooks", "-key", filepath.Join(dir, "dev-key.pem"), "-jwks", filepath.Join(dir, "dev-jwks.json")}
	folder := t.TempDir() // a folder of two of Upvest's samples
	for _, name := range []string{"ORDER.NEW", "EXECUTION.FILLED"} {
		if err := os.WriteFile(filepath.Join(folder, name+".json"), upvesttest.ReadSample(t, name), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantLine string
		lines    int
	}{
		{"files with fresh ids", []string{"-fresh-ids", "-batch", "1", folder}, 0, "200 events=1 ok", 2},
		{"generated in batches", []string{"-generate", "2", "-batch", "3"}, 0, "200 events=3 ok", 3},
		{"tampered", []string{"-tamper", "-generate", "1"}, 1, "401 events=4 unauthenticated", 1},
		{"draft 15", []string{"-draft", "15", "-generate", "1"}, 0, "200 events=4 ok 15", 1},
		{"draft 15 tampered", []string{"-draft", "15", "-tamper", "-generate", "1"}, 1, "401 events=4 unauthenticated", 1},
		{"explicit wrong kid", []string{"-kid", "nobody", "-generate", "1"}, 1, "401 events=4", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errs bytes.Buffer
			code := run(context.Background(), append(append([]string{}, common...), tt.args...), &out, &errs)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stdout %s stderr %s", code, tt.wantCode, out.String(), errs.String())
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if len(lines) != tt.lines || !strings.Contains(lines[0], tt.wantLine) {
				t.Fatalf("output %q, want %d lines like %q", out.String(), tt.lines, tt.wantLine)
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"-batch", "0", "-generate", "1"}, {"-nope"}, {"-draft", "7", "-generate", "1"}} {
		var out, errs bytes.Buffer
		if code := run(context.Background(), args, &out, &errs); code != 2 {
			t.Errorf("run(%q) exit %d, want 2", args, code)
		}
	}
	var out, errs bytes.Buffer
	if code := run(context.Background(), []string{"-key", filepath.Join(t.TempDir(), "none.pem"), "-generate", "1"}, &out, &errs); code != 1 {
		t.Errorf("missing key: exit %d, want 1", code)
	}
}

func TestHelpSucceeds(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"keygen", "-h"}} {
		var out, errs bytes.Buffer
		if code := run(context.Background(), args, &out, &errs); code != 0 || !strings.Contains(errs.String(), "-") {
			t.Errorf("run(%q) exit %d, want 0 and the flags; stderr %s", args, code, errs.String())
		}
	}
}

// Like every local tool, send keeps its dev key in LOCAL_DIR: keygen writes it
// there and send signs with it, with no -dir, -key or -jwks.
func TestKeysLiveInLocalDir(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("LOCAL_DIR", dir)
	t.Chdir(t.TempDir()) // not next to any .local
	var out, errs bytes.Buffer
	if code := run(context.Background(), []string{"keygen"}, &out, &errs); code != 0 {
		t.Fatalf("keygen exit %d: %s", code, errs.String())
	}
	srv := verifyingServer(t, filepath.Join(dir, "dev-jwks.json"))
	out.Reset()
	if code := run(context.Background(), []string{"-url", srv.URL + "/webhooks", "-generate", "1"}, &out, &errs); code != 0 || !strings.Contains(out.String(), "200 events=4 ok") {
		t.Fatalf("send with LOCAL_DIR's key: exit %d; stdout %s stderr %s", code, out.String(), errs.String())
	}
}
