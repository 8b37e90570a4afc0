package keysync_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/keysync"
)

const testPassphrase = "correct-horse"

// keyFiles are the committed fixtures, and when openssl is installed, the same
// commands run afresh (so a newer openssl's output is covered too).
func keyDirs(t *testing.T) []string {
	dirs := []string{"testdata/keys"}
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Log("openssl not installed: only the committed fixtures are tried")
		return dirs
	}
	dir := t.TempDir()
	run := func(args ...string) {
		cmd := exec.Command("openssl", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
	}
	run("ecparam", "-name", "secp521r1", "-genkey", "-out", "ecparam-genkey.pem")
	run("ec", "-in", "ecparam-genkey.pem", "-aes256", "-passout", "pass:"+testPassphrase, "-out", "ec-aes256.pem")
	run("pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", "ecparam-genkey.pem", "-passout", "pass:"+testPassphrase, "-out", "pkcs8-aes256.pem")
	run("pkcs8", "-topk8", "-nocrypt", "-in", "ecparam-genkey.pem", "-out", "pkcs8.pem")
	run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "p256.pem")
	run("genpkey", "-algorithm", "ed25519", "-out", "ed25519.pem")
	run("ec", "-in", "ecparam-genkey.pem", "-pubout", "-out", "public.pem")
	return append(dirs, dir)
}

func TestLoadSigningKeyAsUsersHoldIt(t *testing.T) {
	for _, dir := range keyDirs(t) {
		read := func(name string) []byte {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		want, err := keysync.LoadSigningKey(read("ecparam-genkey.pem"), "")
		if err != nil {
			t.Fatalf("%s: ecparam -genkey output (EC PARAMETERS first): %v", dir, err)
		}
		for _, tt := range []struct{ file, passphrase string }{
			{"ec-aes256.pem", testPassphrase},
			{"pkcs8-aes256.pem", testPassphrase},
			{"pkcs8.pem", ""},
			{"pkcs8.pem", "ignored when the key is not encrypted"},
		} {
			got, err := keysync.LoadSigningKey(read(tt.file), tt.passphrase)
			if err != nil || !got.Equal(want) {
				t.Errorf("%s/%s: %v (same key %v)", dir, tt.file, err, err == nil && got.Equal(want))
			}
		}
		for _, tt := range []struct{ name, file, passphrase, wantErr string }{
			{"encrypted, no passphrase", "ec-aes256.pem", "", "no signing_key_passphrase"},
			{"pkcs8 encrypted, no passphrase", "pkcs8-aes256.pem", "", "no signing_key_passphrase"},
			{"wrong passphrase (legacy)", "ec-aes256.pem", "wrong", "wrong signing_key_passphrase"},
			{"wrong passphrase (pkcs8)", "pkcs8-aes256.pem", "wrong", "signing_key_passphrase"},
			{"P-256", "p256.pem", "", "openssl ecparam -name secp521r1"},
			{"Ed25519", "ed25519.pem", "", "openssl ecparam -name secp521r1"},
			{"public key only", "public.pem", "", "openssl pkcs8 -topk8 -nocrypt"},
		} {
			_, err := keysync.LoadSigningKey(read(tt.file), tt.passphrase)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s/%s %s: error %v, want one saying %q", dir, tt.file, tt.name, err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "correct-horse") {
				t.Errorf("%s: the error shows the passphrase", tt.name)
			}
		}
	}
	if _, err := keysync.LoadSigningKey([]byte("not pem"), ""); err == nil || !strings.Contains(err.Error(), "no PEM block") {
		t.Errorf("not pem: %v", err)
	}
}

func TestParseCredentialsWithAnEncryptedKey(t *testing.T) {
	pemBytes, err := os.ReadFile("testdata/keys/pkcs8-aes256.pem")
	if err != nil {
		t.Fatal(err)
	}
	doc := `{"client_id":"` + clientID + `","client_secret":"x","signing_key_id":"k1","signing_key_pem":` +
		jsonString(string(pemBytes)) + `,"signing_key_passphrase":"` + testPassphrase + `"}`
	c, err := keysync.ParseCredentials([]byte(doc))
	if err != nil || c.SigningKey == nil {
		t.Fatalf("%v", err)
	}
	_, err = keysync.ParseCredentials([]byte(strings.Replace(doc, testPassphrase, "wrong", 1)))
	if err == nil || !strings.Contains(err.Error(), "signing_key_pem") {
		t.Fatalf("wrong passphrase: %v", err)
	}
}

func jsonString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}
