package keysync

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"strings"
)

// ConvertKeyHint names the command that turns any key openssl can read into
// the form the loader accepts, for error messages.
const ConvertKeyHint = "convert it with: openssl pkcs8 -topk8 -nocrypt -in <your key>.pem -out signing-key.pem"

// LoadSigningKey reads the API client's P-521 signing key from PEM as users
// really hold it: after an "EC PARAMETERS" block (what `openssl ecparam
// -genkey` writes first) or other non-key blocks, as SEC 1 ("EC PRIVATE KEY"),
// PKCS #8 ("PRIVATE KEY"), PKCS #8 encrypted with PBES2 ("ENCRYPTED PRIVATE
// KEY", `openssl pkcs8 -topk8 -v2 aes-256-cbc`) or a legacy encrypted SEC 1
// key (`openssl ec -aes256`). passphrase decrypts an encrypted key.
func LoadSigningKey(data []byte, passphrase string) (*ecdsa.PrivateKey, error) {
	rest := data
	var seen []string
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		seen = append(seen, block.Type)
		switch block.Type {
		case "EC PRIVATE KEY", "PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
			return parseKeyBlock(block, passphrase)
		}
		// EC PARAMETERS, a certificate or a public key: not the signing key.
	}
	if len(seen) == 0 {
		return nil, errors.New("signing key: no PEM block (want -----BEGIN EC PRIVATE KEY----- or -----BEGIN PRIVATE KEY-----)")
	}
	return nil, fmt.Errorf("signing key: no private key among the PEM blocks %s; %s", strings.Join(seen, ", "), ConvertKeyHint)
}

func parseKeyBlock(block *pem.Block, passphrase string) (*ecdsa.PrivateKey, error) {
	der := block.Bytes
	var err error
	encrypted := block.Type == "ENCRYPTED PRIVATE KEY" || block.Headers["Proc-Type"] == "4,ENCRYPTED"
	// A wrong passphrase sometimes yields valid padding: then the parse fails.
	wrongPassphrase := errors.New("signing key: decrypt: wrong signing_key_passphrase (or a damaged key)")
	switch {
	case block.Type == "ENCRYPTED PRIVATE KEY":
		if passphrase == "" {
			return nil, errors.New("signing key: the key is encrypted and the secret has no signing_key_passphrase")
		}
		if der, err = decryptPKCS8(der, []byte(passphrase)); err != nil {
			return nil, fmt.Errorf("signing key: %w; or %s", err, ConvertKeyHint)
		}
		block = &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	case block.Headers["Proc-Type"] == "4,ENCRYPTED":
		if passphrase == "" {
			return nil, errors.New("signing key: the key is encrypted and the secret has no signing_key_passphrase")
		}
		//lint:ignore SA1019 legacy PEM encryption is what `openssl ec -aes256` writes; users have such keys.
		if der, err = x509.DecryptPEMBlock(block, []byte(passphrase)); err != nil { //nolint:staticcheck
			return nil, fmt.Errorf("signing key: decrypt: %w (wrong signing_key_passphrase?)", err)
		}
	}
	var key *ecdsa.PrivateKey
	if block.Type == "EC PRIVATE KEY" {
		if key, err = x509.ParseECPrivateKey(der); err != nil {
			if encrypted {
				return nil, wrongPassphrase
			}
			return nil, fmt.Errorf("signing key: EC PRIVATE KEY: %w; %s", err, ConvertKeyHint)
		}
	} else {
		k, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			if encrypted {
				return nil, wrongPassphrase
			}
			return nil, fmt.Errorf("signing key: PRIVATE KEY: %w; %s", err, ConvertKeyHint)
		}
		ec, ok := k.(*ecdsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("signing key: a %T key, not ECDSA P-521; generate one with: openssl ecparam -name secp521r1 -genkey -noout -out signing-key.pem", k)
		}
		key = ec
	}
	if key.Curve != elliptic.P521() {
		return nil, fmt.Errorf("signing key: curve %s, Upvest wants P-521 (secp521r1); generate one with: openssl ecparam -name secp521r1 -genkey -noout -out signing-key.pem", key.Curve.Params().Name)
	}
	return key, nil
}

// PKCS #5 v2 (RFC 8018) object identifiers.
var (
	oidPBES2      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidHMACSHA1   = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidHMACSHA256 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidHMACSHA512 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 11}
	oidAES128CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	oidDESEDE3CBC = asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 7}
)

type encryptedPrivateKeyInfo struct {
	Algorithm     algorithmIdentifier
	EncryptedData []byte
}

type algorithmIdentifier struct {
	Algorithm  asn1.ObjectIdentifier
	Parameters asn1.RawValue `asn1:"optional"`
}

type pbes2Params struct {
	KeyDerivationFunc algorithmIdentifier
	EncryptionScheme  algorithmIdentifier
}

type pbkdf2Params struct {
	Salt           []byte
	IterationCount int
	KeyLength      int                 `asn1:"optional"`
	PRF            algorithmIdentifier `asn1:"optional"`
}

// decryptPKCS8 opens an EncryptedPrivateKeyInfo protected with PBES2
// (PBKDF2 and AES-CBC or 3DES-CBC), what OpenSSL 3 writes by default.
func decryptPKCS8(der, passphrase []byte) ([]byte, error) {
	var info encryptedPrivateKeyInfo
	if _, err := asn1.Unmarshal(der, &info); err != nil {
		return nil, fmt.Errorf("ENCRYPTED PRIVATE KEY: %w", err)
	}
	if !info.Algorithm.Algorithm.Equal(oidPBES2) {
		return nil, fmt.Errorf("ENCRYPTED PRIVATE KEY: scheme %v is not PBES2 (re-encrypt with: openssl pkcs8 -topk8 -v2 aes-256-cbc)", info.Algorithm.Algorithm)
	}
	var params pbes2Params
	if _, err := asn1.Unmarshal(info.Algorithm.Parameters.FullBytes, &params); err != nil {
		return nil, fmt.Errorf("ENCRYPTED PRIVATE KEY: PBES2 parameters: %w", err)
	}
	if !params.KeyDerivationFunc.Algorithm.Equal(oidPBKDF2) {
		return nil, fmt.Errorf("ENCRYPTED PRIVATE KEY: key derivation %v is not PBKDF2", params.KeyDerivationFunc.Algorithm)
	}
	var kdf pbkdf2Params
	if _, err := asn1.Unmarshal(params.KeyDerivationFunc.Parameters.FullBytes, &kdf); err != nil {
		return nil, fmt.Errorf("ENCRYPTED PRIVATE KEY: PBKDF2 parameters: %w", err)
	}
	var prf func() hash.Hash
	switch alg := kdf.PRF.Algorithm; {
	case len(alg) == 0 || alg.Equal(oidHMACSHA1):
		prf = sha1.New
	case alg.Equal(oidHMACSHA256):
		prf = sha256.New
	case alg.Equal(oidHMACSHA512):
		prf = sha512.New
	default:
		return nil, fmt.Errorf("ENCRYPTED PRIVATE KEY: PBKDF2 PRF %v not supported", alg)
	}
	var keyLen int
	var newCipher func([]byte) (cipher.Block, error)
	switch alg := params.EncryptionScheme.Algorithm; {
	case alg.Equal(oidAES128CBC):
		keyLen, newCipher = 16, aes.NewCipher
	case alg.Equal(oidAES192CBC):
		keyLen, newCipher = 24, aes.NewCipher
	case alg.Equal(oidAES256CBC):
		keyLen, newCipher = 32, aes.NewCipher
	case alg.Equal(oidDESEDE3CBC):
		keyLen, newCipher = 24, des.NewTripleDESCipher
	default:
		return nil, fmt.Errorf("ENCRYPTED PRIVATE KEY: cipher %v not supported (use aes-256-cbc)", alg)
	}
	var iv []byte
	if _, err := asn1.Unmarshal(params.EncryptionScheme.Parameters.FullBytes, &iv); err != nil {
		return nil, fmt.Errorf("ENCRYPTED PRIVATE KEY: cipher IV: %w", err)
	}
	if kdf.IterationCount < 1 || kdf.IterationCount > 10_000_000 {
		return nil, fmt.Errorf("ENCRYPTED PRIVATE KEY: %d PBKDF2 iterations", kdf.IterationCount)
	}
	key, err := pbkdf2.Key(prf, string(passphrase), kdf.Salt, kdf.IterationCount, keyLen)
	if err != nil {
		return nil, fmt.Errorf("ENCRYPTED PRIVATE KEY: %w", err)
	}
	block, err := newCipher(key)
	if err != nil {
		return nil, fmt.Errorf("ENCRYPTED PRIVATE KEY: %w", err)
	}
	data := info.EncryptedData
	if len(iv) != block.BlockSize() || len(data) == 0 || len(data)%block.BlockSize() != 0 {
		return nil, errors.New("ENCRYPTED PRIVATE KEY: malformed ciphertext")
	}
	plain := make([]byte, len(data))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, data)
	pad := int(plain[len(plain)-1])
	if pad < 1 || pad > block.BlockSize() {
		return nil, errors.New("decrypt: wrong signing_key_passphrase")
	}
	for _, b := range plain[len(plain)-pad:] {
		if int(b) != pad {
			return nil, errors.New("decrypt: wrong signing_key_passphrase")
		}
	}
	return plain[:len(plain)-pad], nil
}
