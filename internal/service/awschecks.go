package service

import (
	"context"
	"encoding/json"

	"github.com/appflowd/appflowd/internal/catalogreg"
	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/secrets"
	"github.com/appflowd/appflowd/internal/wire"
)

// flowCheckAWS checks a flow against the AWS services it names, at
// CreateFlow and UpdateFlow: a destination that can check its properties
// remotely (a Customer Profiles domain and object type exist), and Glue
// Data Catalog registration (S3 destinations only, the database exists).
func (s *Service) flowCheckAWS(ctx context.Context, d *flowDef) error {
	dst := &d.Dests[0]
	if spec, ok := s.flowRegistry().Lookup(string(dst.ConnectorType)); ok && spec.Open != nil && dst.ConnectorProfileName == "" {
		props, err := unionMember(dst.DestinationConnectorProperties, string(dst.ConnectorType))
		if err != nil {
			return err
		}
		// A driver that cannot open here (no data dir, say) is left to
		// fail its runs with its own message: this check is for remote state.
		if conn, err := s.flowRegistry().Open(ctx, string(dst.ConnectorType), s.connectorDeps(ctx), connector.Profile{}); err == nil {
			err = conn.CheckDestination(ctx, props)
			_ = conn.Close()
			if err != nil {
				return connectorFailure(err)
			}
		}
	}
	if d.Catalog != nil && d.Catalog.GlueDataCatalog != nil {
		if dst.ConnectorType != wire.ConnectorTypeS3 {
			return fault.New(fault.Invalid, "metadataCatalogConfig (Glue Data Catalog) is supported only for Amazon S3 destinations, not %s.", dst.ConnectorType)
		}
		if err := catalogreg.CheckDatabase(ctx, s.connectorDeps(ctx), d.Catalog.GlueDataCatalog); err != nil {
			return err
		}
	}
	return nil
}

// checkKMSKey refuses a kmsArn that cannot seal credentials (DescribeKey:
// missing, not Enabled, not symmetric). Without a KMS client (a Service
// assembled by hand in tests; internal/app always gives one) the ARN is
// only recorded.
func (s *Service) checkKMSKey(ctx context.Context, kmsArn string) error {
	if kmsArn == "" || s.d.Keyring == nil || !s.d.Keyring.HasKMS() {
		return nil
	}
	return s.d.Keyring.CheckKey(ctx, kmsArn)
}

// sealProfileCredentials seals a new profile's credentials: by envelope
// encryption under kmsArn, bound to the profile's ARN, when the profile
// names a key; else with the local key. A profile with a key and no
// credentials keeps the key (an envelope without data) for those that
// UpdateConnectorProfile or a run adds later.
func (s *Service) sealProfileCredentials(ctx context.Context, name, arn, kmsArn string, creds json.RawMessage) ([]byte, error) {
	if kmsArn == "" || s.d.Keyring == nil || !s.d.Keyring.HasKMS() {
		return s.sealCredentials(name, creds)
	}
	sealed, err := s.d.Keyring.SealKMS(ctx, kmsArn, arn, creds)
	if err != nil {
		return nil, fault.Wrap(fault.AccessDenied, err, "seal credentials of connector profile %s", name)
	}
	return sealed, nil
}

// resealCredentials seals a profile's new credentials as its old ones
// were: under the same KMS key (even when they are empty, so the key is
// kept), or with the local key.
func (s *Service) resealCredentials(ctx context.Context, name string, old []byte, creds json.RawMessage) ([]byte, error) {
	if keyArn, _ := secrets.KeyOf(old); keyArn == "" {
		return s.sealCredentials(name, creds)
	}
	sealed, err := s.d.Keyring.Reseal(ctx, old, creds)
	if err != nil {
		return nil, fault.Wrap(fault.AccessDenied, err, "seal credentials of connector profile %s", name)
	}
	return sealed, nil
}
