// Package secrets seals stored credentials with AES-256-GCM, so a copy of
// the database alone does not reveal them.
package secrets

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// version prefixes every sealed value so the format can change later.
const version = 1

// Keyring seals and opens values with one 32-byte key, and, once SetKMS
// is called, by envelope encryption under KMS keys (kms.go).
type Keyring struct {
	aead cipher.AEAD
	kms  *kmsState
}

// New returns a Keyring for a 32-byte key.
func New(key []byte) (*Keyring, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("secret key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Keyring{aead: aead}, nil
}

// ParseKey decodes a base64 (standard or URL) 32-byte key, as given in
// APPFLOWD_SECRET_KEY.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == 32 {
			return k, nil
		}
	}
	return nil, errors.New("secret key must be 32 bytes in base64 (e.g. `openssl rand -base64 32`)")
}

// LoadOrCreate reads the key file at path, creating it with a random key
// (mode 0600) if it does not exist. Replicas that share a database must
// share the key: give them the same file or APPFLOWD_SECRET_KEY.
func LoadOrCreate(path string) (*Keyring, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("create key folder: %w", err)
		}
		enc := base64.StdEncoding.EncodeToString(key) + "\n"
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			return LoadOrCreate(path) // another process made it first
		}
		if err != nil {
			return nil, fmt.Errorf("create secret key file: %w", err)
		}
		if _, err := f.WriteString(enc); err != nil {
			f.Close()
			return nil, err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, err
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
		return New(key)
	}
	if err != nil {
		return nil, fmt.Errorf("read secret key file: %w", err)
	}
	key, err := ParseKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("secret key file %s: %w", path, err)
	}
	return New(key)
}

// Seal encrypts plaintext. A nil or empty plaintext seals to nil.
func (k *Keyring) Seal(plaintext []byte) ([]byte, error) {
	if len(plaintext) == 0 {
		return nil, nil
	}
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out := append([]byte{version}, nonce...)
	return k.aead.Seal(out, nonce, plaintext, []byte{version}), nil
}

// Open decrypts what Seal or SealKMS produced. nil opens to nil. Callers
// with a context use OpenContext: a KMS-sealed value needs a KMS call.
func (k *Keyring) Open(sealed []byte) ([]byte, error) {
	return k.OpenContext(context.Background(), sealed)
}

func (k *Keyring) openLocal(sealed []byte) ([]byte, error) {
	if len(sealed) == 0 {
		return nil, nil
	}
	ns := k.aead.NonceSize()
	if sealed[0] != version || len(sealed) < 1+ns {
		return nil, errors.New("sealed secret has an unknown format")
	}
	pt, err := k.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], sealed[:1])
	if err != nil {
		return nil, errors.New("sealed secret cannot be opened with this key (was APPFLOWD_SECRET_KEY or the key file changed?)")
	}
	return pt, nil
}
