// Package store keeps appflowd's resources durably: connector profiles,
// flows, execution records, connector registrations, tags and idempotency
// tokens. Drivers: sqlitestore (the embedded default) and pgstore.
//
// Rows hold the API's own shapes as JSON documents (Doc fields) beside the
// few columns that are queried; the store never interprets a document.
// Every key is scoped by account id.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/appflowd/appflowd/internal/fault"
)

// ErrNotFound, ErrConflict and ErrQuotaExceeded are what drivers return;
// they carry fault codes.
var (
	ErrNotFound      = &fault.Error{Code: fault.NotFound, Msg: "not found"}
	ErrConflict      = &fault.Error{Code: fault.Conflict, Msg: "already exists or changed concurrently"}
	ErrQuotaExceeded = &fault.Error{Code: fault.QuotaExceeded, Msg: "the account has reached its quota"}
)

// IsQuotaExceeded reports whether err is (or wraps) ErrQuotaExceeded.
func IsQuotaExceeded(err error) bool { return errors.Is(err, ErrQuotaExceeded) }

// IsNotFound reports whether err is (or wraps) ErrNotFound.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsConflict reports whether err is (or wraps) ErrConflict.
func IsConflict(err error) bool { return errors.Is(err, ErrConflict) }

// Profile is a stored connector profile.
type Profile struct {
	AccountID     string
	Name          string
	Arn           string
	ConnectorType string
	Label         string // custom connector label, "" otherwise
	// Doc is the profile as DescribeConnectorProfiles returns it (no secrets).
	Doc []byte
	// Credentials is the sealed (encrypted) credentials JSON.
	Credentials []byte
	CreatedAt   time.Time
	UpdatedAt   time.Time
	// MaxPerAccount, when > 0, makes ProfileCreate refuse with
	// ErrQuotaExceeded if the account already has that many profiles; the
	// count and the insert are one atomic step, across processes too. Not
	// stored.
	MaxPerAccount int
}

// Flow is a stored flow.
type Flow struct {
	AccountID string
	Name      string
	Arn       string
	Status    string // FlowStatus
	// Doc is the flow definition as DescribeFlow returns it.
	Doc []byte
	// State is the engine's and scheduler's own JSON (watermarks, failure
	// counts); never shown through the API.
	State []byte
	// ProfileNames are the connector profiles the flow's source and
	// destinations use; FlowCreate and FlowUpdate keep them for
	// FlowsUsingProfile. Drivers return them sorted and without duplicates.
	ProfileNames []string
	CreatedAt    time.Time
	UpdatedAt    time.Time
	// Version increases on every update; FlowUpdate checks it.
	Version int64
	// MaxPerAccount, when > 0, makes FlowCreate refuse with
	// ErrQuotaExceeded if the account already has that many flows,
	// atomically (see Profile.MaxPerAccount). Not stored.
	MaxPerAccount int
}

// FlowView is a flow with what the API shows beside it: its tags, its
// newest run and the labels of its profiles. Flow.ProfileNames and
// Flow.State are not filled.
type FlowView struct {
	Flow *Flow
	// Summary, in FlowViewList's views, is FlowListSummary of the flow's
	// document as stored with it (the document itself where it has none),
	// and Flow.Doc is not filled; FlowViewGet fills Flow.Doc instead.
	Summary []byte
	Tags    map[string]string // empty if none
	// Newest is the most recently started execution (StartedAt, then
	// ExecutionID, as ExecutionList orders them), nil if none; it carries
	// what the API shows (ids, Status, Doc, StartedAt, UpdatedAt), not the
	// run's claim (Owner, LeaseUntil) or Version.
	Newest *Execution
	// Labels are the labels of the flow's profiles that have one (custom
	// connector profiles), by profile name.
	Labels map[string]string
	// Stamp names the stored state of everything the view shows (the flow,
	// its tags, newest run and labels): a driver that keeps stamps gives the
	// view another one whenever any of that changes. 0: the driver keeps none.
	Stamp uint64
	// Known says the caller's KnownView answered true for Stamp: the view
	// carries only Flow.AccountID, Flow.Name and Stamp.
	Known bool
}

// KnownView, given to FlowViewGet and FlowViewList, is asked for each view
// read whose driver keeps stamps (FlowView.Stamp): true means the caller
// has the view of that stamp already, and the driver leaves the rest of it
// unread (FlowView.Known).
type KnownView func(name string, stamp uint64) bool

// Execution is one run of a flow.
type Execution struct {
	AccountID   string
	FlowName    string
	ExecutionID string
	Status      string // ExecutionStatus
	// Doc is the ExecutionRecord as DescribeFlowExecutionRecords returns it.
	Doc       []byte
	StartedAt time.Time
	UpdatedAt time.Time
	// Owner names the process running the execution ("" while it waits
	// in the queue); its claim lapses at LeaseUntil unless renewed, after
	// which another process may take the run over.
	Owner      string
	LeaseUntil time.Time
	// Version increases on every update; ExecutionUpdate checks it.
	Version int64
}

// Registration is a registered custom connector.
type Registration struct {
	AccountID string
	Label     string
	Arn       string
	Doc       []byte // ConnectorConfiguration + ConnectorDetail, as the service keeps them
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Token is one clientToken use.
type Token struct {
	AccountID string
	Operation string
	Token     string
	// RequestHash identifies the request's input (without the token).
	RequestHash string
	// Response is the JSON of the first call's result; nil while it runs.
	Response  []byte
	CreatedAt time.Time
}

// ConsoleSession is a person signed in to the web console. Only a hash of
// the session cookie's token is kept, so a copy of the rows signs no one in.
type ConsoleSession struct {
	TokenHash   []byte // SHA-256 of the cookie's token; the key
	AccountID   string
	AccessKeyID string
	// KeyProof ties the session to the secret its key had at sign-in.
	KeyProof  []byte
	CSRF      string // the token the session's forms carry
	CreatedAt time.Time
	ExpiresAt time.Time
}

// SignInFailureAddParams records one refused console sign-in against each
// of Subjects (an access key id, a client address) at At, and forgets
// every failure before ForgetBefore.
type SignInFailureAddParams struct {
	Subjects     []string
	At           time.Time
	ForgetBefore time.Time
}

// Page asks for part of a list: Limit rows after the opaque cursor After.
type Page struct {
	After string // "" = from the start
	Limit int    // <= 0: driver default (100)
}

type ProfileListParams struct {
	AccountID     string
	ConnectorType string   // "" = any
	Label         string   // "" = any
	Names         []string // nil = any
	Page          Page
}

type FlowListParams struct {
	AccountID string
	Page      Page
	Known     KnownView // nil: every view is read whole; FlowViewList only
}

// FlowListByStatusParams lists flows of every account in one status, as the
// scheduler needs (the Active ones), ordered by account then name.
type FlowListByStatusParams struct {
	Status string
	Page   Page
}

type ExecutionListParams struct {
	AccountID string
	FlowName  string
	Page      Page // newest first (StartedAt desc, then ExecutionID desc)
}

type RegistrationListParams struct {
	AccountID string
	Page      Page
}

// TokenClaimResult says what a claim found.
type TokenClaimResult struct {
	// Existing is the earlier use of the token, nil when this claim is the
	// first within the TTL (the caller must then run and TokenComplete).
	Existing *Token
}

// Store is the durable state of appflowd. Methods are entity-then-verb with
// one params value; lists return the next cursor ("" at the end).
//
// Drivers keep times in UTC at microsecond precision and write the stored
// value back into the struct they were given; a zero CreatedAt, UpdatedAt or
// StartedAt is stored as the current time. A malformed cursor is a
// fault.Invalid error.
type Store interface {
	ProfileCreate(ctx context.Context, p *Profile) error // ErrConflict if the name exists; ErrQuotaExceeded (see MaxPerAccount)
	ProfileGet(ctx context.Context, accountID, name string) (*Profile, error)
	ProfileUpdate(ctx context.Context, p *Profile) error // ErrNotFound if missing
	ProfileDelete(ctx context.Context, accountID, name string) error
	ProfileList(ctx context.Context, params *ProfileListParams) ([]*Profile, string, error)

	FlowCreate(ctx context.Context, f *Flow) error // sets Version 1; ErrConflict if the name exists; ErrQuotaExceeded (see MaxPerAccount)
	FlowGet(ctx context.Context, accountID, name string) (*Flow, error)
	// FlowUpdate writes f if the stored Version equals f.Version, then
	// increments f.Version; otherwise ErrConflict.
	FlowUpdate(ctx context.Context, f *Flow) error
	// FlowStateUpdateMany writes only the State of each flow whose stored
	// Version equals its Version, all in one transaction, and increments
	// those Versions; written[i] says whether fs[i] was (false: stale or
	// gone). The planner's batch.
	FlowStateUpdateMany(ctx context.Context, fs []*Flow) (written []bool, err error)
	FlowDelete(ctx context.Context, accountID, name string) error // also deletes its executions
	FlowList(ctx context.Context, params *FlowListParams) ([]*Flow, string, error)
	// FlowListByStatus lists the flows of every account whose Status is
	// params.Status, by account id then name.
	FlowListByStatus(ctx context.Context, params *FlowListByStatusParams) ([]*Flow, string, error)
	// FlowViewGet and FlowViewList read flows as DescribeFlow and ListFlows
	// show them, each in one query (a list with a KnownView may take a
	// second for the views it does not know); FlowViewList pages like
	// FlowList. known (params.Known) may be nil.
	FlowViewGet(ctx context.Context, accountID, name string, known KnownView) (*FlowView, error)
	FlowViewList(ctx context.Context, params *FlowListParams) ([]*FlowView, string, error)
	// FlowsUsingProfile names the flows whose source or destination uses the profile.
	FlowsUsingProfile(ctx context.Context, accountID, profileName string) ([]string, error)

	ExecutionCreate(ctx context.Context, e *Execution) error // sets Version 1
	// ExecutionCreateMany stores executions in one transaction, skipping
	// those whose id is taken or whose flow does not exist; each gets Version 1. The planner's batch.
	ExecutionCreateMany(ctx context.Context, es []*Execution) error
	ExecutionGet(ctx context.Context, accountID, flowName, executionID string) (*Execution, error)
	// ExecutionUpdate writes Status, Doc, StartedAt, UpdatedAt, Owner and
	// LeaseUntil if the stored Version equals e.Version, then increments
	// e.Version; otherwise ErrConflict (ErrNotFound if the row is gone).
	// Callers go through internal/runstate, the one owner of run states.
	ExecutionUpdate(ctx context.Context, e *Execution) error
	ExecutionList(ctx context.Context, params *ExecutionListParams) ([]*Execution, string, error)
	// ExecutionListUnfinished lists every InProgress or CancelStarted
	// execution of every account: what a restarted single process must close.
	ExecutionListUnfinished(ctx context.Context) ([]*Execution, error)

	RegistrationCreate(ctx context.Context, r *Registration) error
	RegistrationGet(ctx context.Context, accountID, label string) (*Registration, error)
	RegistrationUpdate(ctx context.Context, r *Registration) error
	RegistrationDelete(ctx context.Context, accountID, label string) error
	RegistrationList(ctx context.Context, params *RegistrationListParams) ([]*Registration, string, error)

	// Tags are keyed by resource ARN.
	TagsGet(ctx context.Context, arn string) (map[string]string, error) // empty map if none
	TagsSet(ctx context.Context, arn string, tags map[string]string) error
	TagsRemove(ctx context.Context, arn string, keys []string) error
	TagsDeleteAll(ctx context.Context, arn string) error

	// TokenClaim records the first use of (account, operation, token) and
	// returns nothing, or returns the earlier use if one exists newer than
	// notBefore (older ones are replaced). Concurrent claims of one token:
	// exactly one sees Existing == nil.
	TokenClaim(ctx context.Context, t *Token, notBefore time.Time) (*TokenClaimResult, error)
	// TokenComplete stores the response of a claimed token.
	TokenComplete(ctx context.Context, accountID, operation, token string, response []byte) error
	// TokenRelease forgets a claim whose call failed, so a retry can run.
	TokenRelease(ctx context.Context, accountID, operation, token string) error

	// ConsoleSessionCreate stores a new session; ErrConflict if its
	// TokenHash is taken.
	ConsoleSessionCreate(ctx context.Context, s *ConsoleSession) error
	// ConsoleSessionGet returns the session whose token hashes to
	// tokenHash; ErrNotFound if there is none or it expired by now.
	ConsoleSessionGet(ctx context.Context, tokenHash []byte, now time.Time) (*ConsoleSession, error)
	// ConsoleSessionDelete ends a session; ending an unknown one is not an error.
	ConsoleSessionDelete(ctx context.Context, tokenHash []byte) error
	// ConsoleSessionDeleteExpired deletes the sessions expired by now.
	ConsoleSessionDeleteExpired(ctx context.Context, now time.Time) error
	SignInFailureAdd(ctx context.Context, params *SignInFailureAddParams) error
	// SignInFailureList returns, by subject, the times of the subject's
	// failures at or after since, oldest first; subjects without any are absent.
	SignInFailureList(ctx context.Context, subjects []string, since time.Time) (map[string][]time.Time, error)
	// SignInFailureClear forgets a subject's failures.
	SignInFailureClear(ctx context.Context, subject string) error

	Close() error
}
