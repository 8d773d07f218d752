package service

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/store"
)

// tokenTTL is how long a clientToken stays bound to its first call (AppFlow: 8 hours).
const tokenTTL = 8 * time.Hour

// tokenAbandonAfter is how long an unfinished claim may block its token: a
// claim this old belongs to a call that died (a crashed replica), so a retry
// may take it over.
const tokenAbandonAfter = time.Minute

// idemOptions tune idempotent for StartFlow's special case.
type idemOptions struct {
	// onMismatch, when set, decides whether a reused token with different
	// input is a new call (true) rather than a ConflictException (false).
	onMismatch func() bool
}

// idempotent runs call at most once per (account, op, token, input) within
// tokenTTL and replays the first successful result afterwards. A failed call
// leaves no trace, so the client may retry with the same token. An empty
// token means a new call every time.
func idempotent[Out any](ctx context.Context, s *Service, op, token string, in any, call func() (*Out, error), opts ...idemOptions) (*Out, error) {
	if token == "" {
		return call()
	}
	var o idemOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	hash, err := fingerprint(in)
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "fingerprint request")
	}
	account := s.account(ctx)
	deadline := s.d.Now().Add(30 * time.Second)
	for {
		now := s.d.Now()
		res, err := s.d.Store.TokenClaim(ctx, &store.Token{
			AccountID: account, Operation: op, Token: token, RequestHash: hash, CreatedAt: now,
		}, now.Add(-tokenTTL))
		if err != nil {
			return nil, fault.Wrap(fault.Internal, err, "claim client token")
		}
		prev := res.Existing
		if prev == nil {
			out, err := call()
			if err != nil {
				// Release with a fresh context: the caller's may be done.
				_ = s.d.Store.TokenRelease(context.WithoutCancel(ctx), account, op, token)
				return nil, err
			}
			body, merr := json.Marshal(out)
			if merr == nil {
				merr = s.d.Store.TokenComplete(context.WithoutCancel(ctx), account, op, token, body)
			}
			if merr != nil {
				s.d.Logger.Warn("client token not recorded; a retry would run again", "operation", op, "err", merr)
			}
			return out, nil
		}
		if prev.RequestHash != hash {
			if o.onMismatch != nil && o.onMismatch() {
				return call()
			}
			return nil, fault.New(fault.Conflict,
				"Request with client token %s was already used with different request parameters for %s.", token, op)
		}
		if prev.Response != nil {
			var out Out
			if err := json.Unmarshal(prev.Response, &out); err != nil {
				return nil, fault.Wrap(fault.Internal, err, "replay client token %s", token)
			}
			return &out, nil
		}
		// The first call with this token is still running: wait for its result.
		if now.Sub(prev.CreatedAt) > tokenAbandonAfter {
			_ = s.d.Store.TokenRelease(ctx, account, op, token)
			continue
		}
		if now.After(deadline) {
			return nil, fault.New(fault.Conflict, "A request with client token %s for %s is still in progress; retry later.", token, op)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// fingerprint hashes the request without its clientToken, with keys in a
// canonical order, so the same input always gives the same hash.
func fingerprint(in any) (string, error) {
	raw, err := json.Marshal(in)
	if err != nil {
		return "", err
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return "", err
	}
	delete(m, "clientToken")
	canon, err := json.Marshal(m) // encoding/json sorts map keys
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(canon)
	return hex.EncodeToString(sum[:]), nil
}
