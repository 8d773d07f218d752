package awsconfig

import (
	"context"
	"errors"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/secrets"
)

// KMS is AWS KMS at the kms endpoint, as internal/secrets needs it. The
// client is built on first use, so a process that names no KMS key never
// loads a configuration for it.
type KMS struct {
	deps   connector.Deps
	once   sync.Once
	client *kms.Client
	err    error
}

var _ secrets.KMS = (*KMS)(nil)

// NewKMS returns a KMS for deps.
func NewKMS(deps connector.Deps) *KMS { return &KMS{deps: deps} }

func (k *KMS) c(ctx context.Context) (*kms.Client, error) {
	k.once.Do(func() {
		cfg, err := Load(ctx, k.deps, "")
		if err != nil {
			k.err = err
			return
		}
		endpoint := Endpoint(k.deps, connector.EndpointKMS)
		k.client = kms.NewFromConfig(cfg, func(o *kms.Options) { o.BaseEndpoint = endpoint })
	})
	return k.client, k.err
}

// GenerateDataKey asks for an AES-256 data key under keyID.
func (k *KMS) GenerateDataKey(ctx context.Context, keyID string, encCtx map[string]string) ([]byte, []byte, string, error) {
	c, err := k.c(ctx)
	if err != nil {
		return nil, nil, "", err
	}
	out, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(keyID), KeySpec: kmstypes.DataKeySpecAes256, EncryptionContext: encCtx})
	if err != nil {
		return nil, nil, "", err
	}
	return out.Plaintext, out.CiphertextBlob, aws.ToString(out.KeyId), nil
}

// Decrypt decrypts blob, pinned to keyID.
func (k *KMS) Decrypt(ctx context.Context, keyID string, blob []byte, encCtx map[string]string) ([]byte, error) {
	c, err := k.c(ctx)
	if err != nil {
		return nil, err
	}
	out, err := c.Decrypt(ctx, &kms.DecryptInput{KeyId: aws.String(keyID), CiphertextBlob: blob, EncryptionContext: encCtx})
	if err != nil {
		return nil, err
	}
	return out.Plaintext, nil
}

// DescribeKey reports a key's state; NotFoundException is secrets.ErrNoKey.
func (k *KMS) DescribeKey(ctx context.Context, keyID string) (secrets.KeyInfo, error) {
	c, err := k.c(ctx)
	if err != nil {
		return secrets.KeyInfo{}, err
	}
	out, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(keyID)})
	var nf *kmstypes.NotFoundException
	if errors.As(err, &nf) {
		return secrets.KeyInfo{}, secrets.ErrNoKey
	}
	if err != nil {
		return secrets.KeyInfo{}, err
	}
	m := out.KeyMetadata
	return secrets.KeyInfo{Arn: aws.ToString(m.Arn), State: string(m.KeyState), Usage: string(m.KeyUsage), Spec: string(m.KeySpec)}, nil
}
