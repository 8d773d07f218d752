// Package service implements the AppFlow API (wire.Service): the rules of
// AppFlow's resources, idempotency, ARNs and the flow status machine. It
// knows nothing of HTTP (restjson does) or SQL (store does).
package service

import (
	"context"
	"log/slog"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/runstate"
	"github.com/appflowd/appflowd/internal/secrets"
	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/wire"
)

// Runner executes flow runs. The service creates the execution record
// (InProgress) and then hands it over; the runner owns it from there.
type Runner interface {
	// Start runs one execution asynchronously.
	Start(ctx context.Context, accountID, flowName, executionID string) error
	// Cancel asks running executions to stop. It returns the ids that are not
	// running (unknown or already finished), which CancelFlowExecutions
	// reports as invalidExecutions.
	Cancel(ctx context.Context, accountID, flowName string, executionIDs []string) (notRunning []string, err error)
}

// Deps are everything the service needs from the process.
type Deps struct {
	Store     store.Store
	Registry  *connector.Registry
	Keyring   *secrets.Keyring
	Runner    Runner // nil: StartFlow records an Error execution saying no engine is configured
	Connector connector.Deps
	Region    string
	// DefaultAccountID is used when the request carries no caller (SigV4 off).
	DefaultAccountID string
	Now              func() time.Time
	Logger           *slog.Logger
	// MaxProfiles and MaxFlows are the per-account quotas (0: AppFlow's
	// defaults, 100 connector profiles and 1,000 flows).
	MaxProfiles, MaxFlows int
}

// Service implements wire.Service.
type Service struct {
	d     Deps
	runs  *runstate.Machine // every change of an execution record
	cache *metadataCache    // entity lists and descriptions, per ResetConnectorMetadataCache
	views *viewCache        // DescribeFlow and ListFlows bodies, by the stored views' stamps
}

var _ wire.Service = (*Service)(nil)

// New returns a Service; zero Deps fields get defaults (Now = time.Now, a
// discarding logger).
func New(d Deps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Region == "" {
		d.Region = "us-east-1"
	}
	if d.DefaultAccountID == "" {
		d.DefaultAccountID = "000000000000"
	}
	if d.MaxProfiles <= 0 {
		d.MaxProfiles = maxProfilesPerAccount
	}
	if d.MaxFlows <= 0 {
		d.MaxFlows = flowQuota
	}
	return &Service{d: d, runs: runstate.New(d.Store, d.Now), cache: &metadataCache{entries: map[metaKey]metaEntry{}}, views: newViewCache()}
}

// account is the caller's account id.
func (s *Service) account(ctx context.Context) string {
	if c := wire.CallerFrom(ctx); c.AccountID != "" {
		return c.AccountID
	}
	return s.d.DefaultAccountID
}
