package secrets

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/appflowd/appflowd/internal/fault"
)

// KMS is what envelope encryption needs of AWS KMS; internal/connector/awsconfig
// implements it on the SDK's client.
type KMS interface {
	// GenerateDataKey returns a new AES-256 data key under keyID, in plain
	// and encrypted (bound to encCtx), and the key's ARN.
	GenerateDataKey(ctx context.Context, keyID string, encCtx map[string]string) (plaintext, blob []byte, keyArn string, err error)
	// Decrypt decrypts blob, which must be under keyID and bound to encCtx.
	Decrypt(ctx context.Context, keyID string, blob []byte, encCtx map[string]string) ([]byte, error)
	// DescribeKey reports a key's state; a missing key is ErrNoKey.
	DescribeKey(ctx context.Context, keyID string) (KeyInfo, error)
}

// KeyInfo is what DescribeKey says of a key.
type KeyInfo struct {
	Arn   string
	State string // Enabled, Disabled, PendingDeletion, ...
	Usage string // ENCRYPT_DECRYPT, SIGN_VERIFY, ...
	Spec  string // SYMMETRIC_DEFAULT, RSA_2048, ...
}

// ErrNoKey is DescribeKey's answer for a key that does not exist.
var ErrNoKey = errors.New("no such KMS key")

// ContextKey names the resource a data key is bound to in its encryption
// context (and the AES-GCM additional data).
const ContextKey = "appflowd:arn"

// kmsVersion marks an envelope-sealed value: the byte, then envelope JSON.
const kmsVersion = 2

// dataKeyTTL bounds how long a decrypted data key is kept, sparing a KMS
// call per open of the same profile.
const dataKeyTTL = 5 * time.Minute

type envelope struct {
	KeyArn   string `json:"keyArn"`
	Resource string `json:"arn"`
	EDK      []byte `json:"edk"` // the encrypted data key
	Nonce    []byte `json:"nonce"`
	CT       []byte `json:"ct"`
}

type kmsState struct {
	client KMS
	mu     sync.Mutex
	keys   map[[32]byte]cachedKey
}

type cachedKey struct {
	key   []byte
	until time.Time
}

// SetKMS lets the keyring seal values under KMS keys (SealKMS) and open them.
func (k *Keyring) SetKMS(c KMS) { k.kms = &kmsState{client: c, keys: map[[32]byte]cachedKey{}} }

// HasKMS says whether SetKMS was called.
func (k *Keyring) HasKMS() bool { return k.kms != nil }

// CheckKey refuses a key that cannot seal credentials: missing, not
// Enabled, or not a symmetric encryption key. The errors are Invalid and
// name the key.
func (k *Keyring) CheckKey(ctx context.Context, keyID string) error {
	if k.kms == nil {
		return fault.New(fault.Invalid, "KMS key %s cannot be used: no KMS is configured", keyID)
	}
	info, err := k.kms.client.DescribeKey(ctx, keyID)
	switch {
	case errors.Is(err, ErrNoKey):
		return fault.New(fault.Invalid, "The KMS key %s does not exist.", keyID)
	case err != nil:
		return fault.Wrap(fault.Invalid, err, "The KMS key %s could not be described", keyID)
	case info.State != "Enabled":
		return fault.New(fault.Invalid, "The KMS key %s is %s, not Enabled.", keyID, info.State)
	case (info.Usage != "" && info.Usage != "ENCRYPT_DECRYPT") || (info.Spec != "" && info.Spec != "SYMMETRIC_DEFAULT"):
		// An unreported usage or spec is KMS's default (moto reports none for keys created without).
		return fault.New(fault.Invalid, "The KMS key %s is a %s key for %s; credentials need a symmetric (SYMMETRIC_DEFAULT) ENCRYPT_DECRYPT key.", keyID, info.Spec, info.Usage)
	}
	return nil
}

// SealKMS seals plaintext by envelope encryption: a fresh data key from
// GenerateDataKey under keyID, bound to resource (its ARN) in the
// encryption context, seals plaintext with AES-256-GCM (the ARN as
// additional data) and is kept only encrypted beside it. An empty
// plaintext (a profile without credentials) makes an envelope with no data
// key that only names keyID and resource, so that what is sealed later
// (Reseal) goes under the same key; it opens to nil without a KMS call.
func (k *Keyring) SealKMS(ctx context.Context, keyID, resource string, plaintext []byte) ([]byte, error) {
	if len(plaintext) == 0 {
		b, err := json.Marshal(envelope{KeyArn: keyID, Resource: resource})
		if err != nil {
			return nil, err
		}
		return append([]byte{kmsVersion}, b...), nil
	}
	if k.kms == nil {
		return nil, errors.New("no KMS is configured")
	}
	encCtx := map[string]string{ContextKey: resource}
	key, edk, keyArn, err := k.kms.client.GenerateDataKey(ctx, keyID, encCtx)
	if err != nil {
		return nil, fmt.Errorf("KMS GenerateDataKey with %s: %w", keyID, err)
	}
	defer clear(key)
	if keyArn == "" {
		keyArn = keyID
	}
	aead, err := gcm(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	env := envelope{KeyArn: keyArn, Resource: resource, EDK: edk, Nonce: nonce, CT: aead.Seal(nil, nonce, plaintext, []byte(resource))}
	b, err := json.Marshal(env)
	if err != nil {
		return nil, err
	}
	return append([]byte{kmsVersion}, b...), nil
}

// OpenContext opens what Seal or SealKMS produced; a KMS-sealed value is
// decrypted with Decrypt pinned to its key and resource.
func (k *Keyring) OpenContext(ctx context.Context, sealed []byte) ([]byte, error) {
	if len(sealed) == 0 || sealed[0] != kmsVersion {
		return k.openLocal(sealed)
	}
	var env envelope
	if err := json.Unmarshal(sealed[1:], &env); err != nil {
		return nil, errors.New("sealed secret has an unknown format")
	}
	if len(env.EDK) == 0 && len(env.CT) == 0 {
		return nil, nil // a key named, nothing sealed yet
	}
	if k.kms == nil {
		return nil, fmt.Errorf("sealed secret is under KMS key %s, and no KMS is configured", env.KeyArn)
	}
	key, err := k.dataKey(ctx, &env)
	if err != nil {
		return nil, err
	}
	aead, err := gcm(key)
	if err != nil {
		return nil, err
	}
	pt, err := aead.Open(nil, env.Nonce, env.CT, []byte(env.Resource))
	if err != nil {
		return nil, fmt.Errorf("sealed secret under KMS key %s does not open (tampered?)", env.KeyArn)
	}
	return pt, nil
}

// Reseal seals plaintext as old was sealed: under the same KMS key and
// resource, or with the local key.
func (k *Keyring) Reseal(ctx context.Context, old, plaintext []byte) ([]byte, error) {
	if keyArn, resource := KeyOf(old); keyArn != "" {
		return k.SealKMS(ctx, keyArn, resource, plaintext)
	}
	return k.Seal(plaintext)
}

// KeyOf returns the KMS key and resource a sealed value is bound to; ""
// for the local key.
func KeyOf(sealed []byte) (keyArn, resource string) {
	if len(sealed) == 0 || sealed[0] != kmsVersion {
		return "", ""
	}
	var env envelope
	if json.Unmarshal(sealed[1:], &env) != nil {
		return "", ""
	}
	return env.KeyArn, env.Resource
}

func (k *Keyring) dataKey(ctx context.Context, env *envelope) ([]byte, error) {
	id := sha256.Sum256(append([]byte(env.KeyArn+"\x00"+env.Resource+"\x00"), env.EDK...))
	now := time.Now()
	k.kms.mu.Lock()
	c, ok := k.kms.keys[id]
	k.kms.mu.Unlock()
	if ok && now.Before(c.until) {
		return c.key, nil
	}
	key, err := k.kms.client.Decrypt(ctx, env.KeyArn, env.EDK, map[string]string{ContextKey: env.Resource})
	if err != nil {
		return nil, fmt.Errorf("KMS Decrypt with %s: %w", env.KeyArn, err)
	}
	k.kms.mu.Lock()
	for h, c := range k.kms.keys { // drop the expired, so the cache stays small
		if now.After(c.until) {
			delete(k.kms.keys, h)
		}
	}
	k.kms.keys[id] = cachedKey{key: key, until: now.Add(dataKeyTTL)}
	k.kms.mu.Unlock()
	return key, nil
}

func gcm(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("data key: %w", err)
	}
	return cipher.NewGCM(block)
}

// DefaultKeyArn is the account's stand-in for AppFlow's AWS-managed key,
// which flows report when they name no kmsArn: derived from (region,
// account), so it is stable across restarts and replicas.
func DefaultKeyArn(region, account string) string {
	id := uuid.NewSHA1(uuid.NameSpaceURL, []byte("appflowd:kms:aws/appflow:"+region+":"+account))
	return "arn:aws:kms:" + region + ":" + account + ":key/" + id.String()
}
