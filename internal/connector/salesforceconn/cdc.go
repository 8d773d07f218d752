package salesforceconn

// Event-triggered flows: Salesforce Change Data Capture read through the
// Streaming API (CometD / Bayeux long polling over HTTP; the Pub/Sub API
// is gRPC and not used).
//
// EventSource is the connector.EventSource of Salesforce sources. At each
// planner tick it opens a short Bayeux session on {instanceUrl}/cometd/<v>:
// /meta/handshake (replay extension on), /meta/subscribe to
// /data/<Object>ChangeEvent with the replay position kept as the flow's
// cursor, /meta/connect until a held connect brings nothing more (or the
// poll's time budget ends), /meta/disconnect. It never keeps a session
// between ticks: a poll is a function of its cursor (the same cursor
// replays the same events), which is what the planner's version-checked
// write of cursor and wave needs to take every event exactly once, on any
// replica, after any restart.
//
// Each change event names records (ChangeEventHeader.recordIds); a record
// id is an event's split, and the run of a wave reads exactly those
// records, as they are when it runs, with a SOQL query on Id IN (...) in
// chunks (Driver.NamedSplits). Reading the records rather than forwarding
// the events' payloads keeps the engine and the output shape of the
// source unchanged (the same fields, types and projection as a full read),
// serves gap events (which carry ids and no fields) the same way, and is
// exactly once per wave: the wave's execution id derives from its events'
// replay ids. CREATE, UPDATE and UNDELETE events (and their GAP_ forms)
// are taken; DELETE ones only when includeDeletedRecords is set (the
// record is then read with queryAll, IsDeleted true); a GAP_OVERFLOW
// event, or a wildcard record id, makes the wave read the whole object.
//
// The cursor is {"replayId": N}: the last event taken, or -2 (Salesforce's
// "every retained event") when none was seen yet. At activation (a nil
// cursor) the poll drains the retained stream without taking anything, so
// what changed before StartFlow is not an event; if it cannot drain it
// within one poll the cursor also holds "since", the activation time, and
// later polls skip events committed before it. A stored replay id that has
// left Salesforce's retention window (72 hours) is refused by Salesforce;
// the poll then replays every retained event, which are all newer than
// the lost position, and logs that older changes may be missed.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
)

// ProfileFunc returns an account's connector profile with its credentials
// (runner.Runner.Profile).
type ProfileFunc func(ctx context.Context, accountID, name string) (connector.Profile, error)

// EventSource polls Salesforce change events for event-triggered flows.
type EventSource struct {
	deps    connector.Deps
	profile ProfileFunc
	// Opts configure the driver opened per poll (its connected app,
	// retries); zero: as a run would open it.
	Opts Options
	// Wait is how long a /meta/connect waits for more events (sent as
	// the client's advice timeout and bounding the request); 0: 1 s.
	Wait time.Duration
	// Budget bounds one Poll, so a planner tick is not held; 0: 5 s.
	Budget time.Duration
}

var _ connector.EventSource = (*EventSource)(nil)

// NewEventSource returns the EventSource for the process's connector
// dependencies; profile reads a flow's connector profile.
func NewEventSource(deps connector.Deps, profile ProfileFunc) *EventSource {
	return &EventSource{deps: deps, profile: profile}
}

// cdcCursor is an EventSource cursor.
type cdcCursor struct {
	// ReplayID is the replay id of the last event taken, or -2.
	ReplayID int64 `json:"replayId"`
	// Since, when set, is the activation time of a flow whose baseline
	// poll did not drain the retained events: events committed before it
	// are not new.
	Since *time.Time `json:"since,omitempty"`
}

// replayAll is the replay option for every retained event.
const replayAll = -2

// idChunk is how many record ids one query of a wave's run names: 200 ids
// keep the SOQL of a GET well inside Salesforce's URI limit.
const idChunk = 200

// wholeObject is the split name of a wave that reads the whole object.
const wholeObject = "*"

// changeObject returns the sObject and the change event channel of a
// flow's object, which may be the object (Account) or its change event
// (AccountChangeEvent).
func changeObject(object string) (sobject, channel string) {
	base := strings.TrimSuffix(object, "ChangeEvent")
	if base == "" {
		base = object
	}
	return base, "/data/" + base + "ChangeEvent"
}

// Poll implements connector.EventSource.
func (s *EventSource) Poll(ctx context.Context, src connector.EventFlow, cursor json.RawMessage, max int) (connector.EventPoll, error) {
	var props sourceProps
	if len(src.Properties) > 0 {
		if err := json.Unmarshal(src.Properties, &props); err != nil {
			return connector.EventPoll{}, fault.Wrap(fault.Invalid, err, "decode Salesforce source properties")
		}
	}
	if props.Object == "" {
		return connector.EventPoll{}, fault.New(fault.Invalid, "salesforce events: the flow's source names no object")
	}
	_, channel := changeObject(props.Object)
	now := s.now()
	baseline := cursor == nil
	cur := cdcCursor{ReplayID: replayAll}
	if !baseline {
		if err := json.Unmarshal(cursor, &cur); err != nil {
			return connector.EventPoll{}, fmt.Errorf("salesforce events: cursor: %w", err)
		}
	}
	if s.profile == nil {
		return connector.EventPoll{}, fault.New(fault.Internal, "salesforce events: no profile lookup")
	}
	prof, err := s.profile(ctx, src.AccountID, src.ProfileName)
	if err != nil {
		return connector.EventPoll{}, err
	}
	d, err := open(s.deps, prof, s.Opts)
	if err != nil {
		return connector.EventPoll{}, err
	}

	var out connector.EventPoll
	seen := map[string]bool{}
	take := func(replayID int64, payload json.RawMessage) bool {
		if replayID <= cur.ReplayID && cur.ReplayID != replayAll {
			return true // a replayed event already taken
		}
		var ev struct {
			Header struct {
				ChangeType      string   `json:"changeType"`
				RecordIDs       []string `json:"recordIds"`
				CommitTimestamp int64    `json:"commitTimestamp"`
			} `json:"ChangeEventHeader"`
		}
		if err := json.Unmarshal(payload, &ev); err != nil {
			d.log.Warn("salesforce events: undecodable change event skipped", "channel", channel, "replayId", replayID, "err", err)
			cur.ReplayID = replayID
			return true
		}
		h := ev.Header
		if baseline {
			cur.ReplayID = replayID // there before activation
			return true
		}
		if cur.Since != nil {
			if time.UnixMilli(h.CommitTimestamp).Before(*cur.Since) {
				cur.ReplayID = replayID
				return true
			}
			cur.Since = nil // events come in commit order: the rest are new
		}
		var splits []string
		ct := strings.TrimPrefix(h.ChangeType, "GAP_")
		switch {
		case h.ChangeType == "GAP_OVERFLOW":
			splits = []string{wholeObject}
		case ct == "CREATE" || ct == "UPDATE" || ct == "UNDELETE" || (ct == "DELETE" && props.IncludeDeletedRecords):
			for _, id := range h.RecordIDs {
				if strings.HasSuffix(id, "*") { // a field type conversion touched them all
					id = wholeObject
				}
				splits = append(splits, id)
			}
		}
		var fresh []connector.Event
		for _, id := range splits {
			key := strconv.FormatInt(replayID, 10) + "/" + id
			if !seen[key] {
				seen[key] = true
				fresh = append(fresh, connector.Event{Split: id, ID: channel + "/" + key})
			}
		}
		if len(out.Events) > 0 && len(out.Events)+len(fresh) > max {
			return false // the next poll takes it
		}
		out.Events = append(out.Events, fresh...)
		cur.ReplayID = replayID
		return len(out.Events) < max
	}
	drained, err := s.stream(ctx, d, channel, &cur, take)
	if err != nil {
		return connector.EventPoll{}, err
	}
	if baseline && !drained {
		cur.Since = &now
	}
	out.Cursor, err = json.Marshal(cur)
	return out, err
}

func (s *EventSource) now() time.Time {
	if s.deps.Now != nil {
		return s.deps.Now().UTC()
	}
	return time.Now().UTC()
}

// stream runs one Bayeux session on channel from cur.ReplayID, handing
// each event to take in replay order until take says stop, a held connect
// brings nothing (drained), or the poll's budget ends. It re-handshakes when
// Salesforce advises it (403::Unknown client) and refreshes the access
// token once on 401::Authentication invalid.
func (s *EventSource) stream(ctx context.Context, d *Driver, channel string, cur *cdcCursor,
	take func(replayID int64, payload json.RawMessage) bool) (drained bool, err error) {
	wait := s.Wait
	if wait <= 0 {
		wait = time.Second
	}
	budget := s.Budget
	if budget <= 0 {
		budget = 5 * time.Second
	}
	pollCtx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	sess, err := newCometSession(d.c, wait)
	if err != nil {
		return false, err
	}
	defer sess.disconnect(ctx)
	refreshed := false
	for handshakes := 0; ; handshakes++ {
		if handshakes >= 4 {
			return false, fault.New(fault.ConnectorServer, "salesforce events: %s: Salesforce keeps asking for a new handshake", channel)
		}
		done, again, err := s.session(pollCtx, sess, channel, cur, take)
		var ae *authError
		switch {
		case errors.As(err, &ae) && !refreshed && d.c.auth.CanRenew():
			d.log.Info("salesforce events: authentication refused, refreshing the access token", "reason", ae.reason)
			if err := d.c.auth.Renew(ctx, ae.gen); err != nil {
				return false, err
			}
			refreshed = true
			continue
		case errors.As(err, &ae):
			return false, fault.New(fault.AuthFailed, "salesforce events: %s: %s", channel, ae.reason)
		case err != nil && ctx.Err() == nil && pollCtx.Err() != nil:
			return false, nil // the budget ended: what was taken is kept
		case err != nil:
			return false, err
		case again:
			continue
		}
		return done, nil
	}
}

// session handshakes, subscribes and connects until done; again means
// Salesforce asked for a new handshake.
func (s *EventSource) session(ctx context.Context, sess *cometSession, channel string, cur *cdcCursor,
	take func(int64, json.RawMessage) bool) (drained, again bool, err error) {
	if err := sess.handshake(ctx); err != nil {
		return false, false, err
	}
	from := cur.ReplayID
	err = sess.subscribe(ctx, channel, from)
	var re *replayError
	if errors.As(err, &re) && from != replayAll {
		sess.c.log.Warn("salesforce events: the stored replay position has left Salesforce's retention window; "+
			"replaying every retained event (changes older than those may be missed)", "channel", channel, "replayId", from)
		cur.ReplayID = replayAll
		err = sess.subscribe(ctx, channel, replayAll)
	}
	if err != nil {
		return false, false, err
	}
	for first := true; ; first = false {
		msgs, rehandshake, err := sess.connect(ctx, first)
		if err != nil {
			return false, false, err
		}
		n := 0
		for _, m := range msgs {
			if m.Channel != channel || len(m.Data) == 0 {
				continue
			}
			var data struct {
				Payload json.RawMessage `json:"payload"`
				Event   struct {
					ReplayID int64 `json:"replayId"`
				} `json:"event"`
			}
			if err := json.Unmarshal(m.Data, &data); err != nil {
				return false, false, fault.Wrap(fault.ConnectorServer, err, "salesforce events: decode a %s event", channel)
			}
			if data.Event.ReplayID <= 0 { // else taken for an event already read, and dropped
				return false, false, fault.New(fault.ConnectorServer, "salesforce events: a %s event without a replay id", channel)
			}
			n++
			if !take(data.Event.ReplayID, data.Payload) {
				return false, false, nil
			}
		}
		if rehandshake {
			return false, true, nil
		}
		if !first && n == 0 {
			return true, false, nil
		}
	}
}

// cometSession is one Bayeux client session over HTTP long polling.
type cometSession struct {
	c        *client
	http     *http.Client // the driver's, with a cookie jar for BAYEUX_BROWSER
	wait     time.Duration
	clientID string
	seq      int
	gen      int // token generation the session's requests used
}

type bayeuxMsg struct {
	Channel      string          `json:"channel"`
	ClientID     string          `json:"clientId"`
	Successful   bool            `json:"successful"`
	Error        string          `json:"error"`
	Subscription string          `json:"subscription"`
	Data         json.RawMessage `json:"data"`
	Ext          struct {
		Sfdc struct {
			FailureReason string `json:"failureReason"`
		} `json:"sfdc"`
	} `json:"ext"`
	Advice *struct {
		Reconnect string `json:"reconnect"`
	} `json:"advice"`
}

// authError: Salesforce refused the access token.
type authError struct {
	reason string
	gen    int
}

func (e *authError) Error() string { return "salesforce events: " + e.reason }

// replayError: Salesforce refused the replay id.
type replayError struct{ msg string }

func (e *replayError) Error() string { return "salesforce events: " + e.msg }

func newCometSession(c *client, wait time.Duration) (*cometSession, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	hc := *c.HTTP()
	hc.Jar = jar
	return &cometSession{c: c, http: &hc, wait: wait}, nil
}

func (s *cometSession) url() string {
	return s.c.Base() + "/cometd/" + strings.TrimPrefix(apiVersion, "v")
}

// send posts Bayeux messages and returns the answer.
func (s *cometSession) send(ctx context.Context, msgs ...map[string]any) ([]bayeuxMsg, error) {
	token, gen, err := s.c.auth.Token(ctx)
	if err != nil {
		return nil, err
	}
	s.gen = gen
	for _, m := range msgs {
		s.seq++
		m["id"] = strconv.Itoa(s.seq)
		if s.clientID != "" && m["channel"] != "/meta/handshake" {
			m["clientId"] = s.clientID
		}
	}
	body, err := json.Marshal(msgs)
	if err != nil {
		return nil, err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Authorization", "Bearer "+token)
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Accept", "application/json")
	res, err := s.http.Do(hr)
	if err != nil {
		return nil, fault.Wrap(fault.ConnectorServer, err, "salesforce events: %s", s.url())
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, fault.Wrap(fault.ConnectorServer, err, "salesforce events: read a Bayeux response")
	}
	if res.StatusCode == http.StatusUnauthorized {
		return nil, &authError{reason: parseAPIError(res.StatusCode, b).Error(), gen: gen}
	}
	if res.StatusCode/100 != 2 {
		return nil, classify(parseAPIError(res.StatusCode, b))
	}
	var out []bayeuxMsg
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fault.Wrap(fault.ConnectorServer, err, "salesforce events: decode a Bayeux response")
	}
	return out, nil
}

// reply finds the answer on a meta channel.
func reply(msgs []bayeuxMsg, channel string) (bayeuxMsg, error) {
	for _, m := range msgs {
		if m.Channel == channel {
			return m, nil
		}
	}
	return bayeuxMsg{}, fault.New(fault.ConnectorServer, "salesforce events: no %s reply", channel)
}

func isAuthFailure(m bayeuxMsg) bool {
	return strings.HasPrefix(m.Error, "401:") || strings.HasPrefix(m.Ext.Sfdc.FailureReason, "401:")
}

func (s *cometSession) handshake(ctx context.Context) error {
	s.clientID = ""
	msgs, err := s.send(ctx, map[string]any{"channel": "/meta/handshake", "version": "1.0", "minimumVersion": "1.0",
		"supportedConnectionTypes": []string{"long-polling"}, "ext": map[string]any{"replay": true}})
	if err != nil {
		return err
	}
	m, err := reply(msgs, "/meta/handshake")
	if err != nil {
		return err
	}
	if !m.Successful || m.ClientID == "" {
		if isAuthFailure(m) {
			return &authError{reason: strings.TrimSpace(m.Error + " " + m.Ext.Sfdc.FailureReason), gen: s.gen}
		}
		return fault.New(fault.ConnectorServer, "salesforce events: handshake: %s", m.Error)
	}
	s.clientID = m.ClientID
	return nil
}

func (s *cometSession) subscribe(ctx context.Context, channel string, from int64) error {
	msgs, err := s.send(ctx, map[string]any{"channel": "/meta/subscribe", "subscription": channel,
		"ext": map[string]any{"replay": map[string]int64{channel: from}}})
	if err != nil {
		return err
	}
	m, err := reply(msgs, "/meta/subscribe")
	if err != nil {
		return err
	}
	switch {
	case m.Successful:
		return nil
	case isAuthFailure(m):
		return &authError{reason: m.Error, gen: s.gen}
	case strings.Contains(m.Error, "replayId"):
		return &replayError{msg: m.Error}
	case strings.Contains(m.Error, "doesn't exist") || strings.Contains(m.Error, "does not exist"):
		return fault.New(fault.NotFound, "salesforce events: %s (is Change Data Capture enabled for the object?)", m.Error)
	}
	return fault.New(fault.ConnectorServer, "salesforce events: subscribe to %s: %s", channel, m.Error)
}

// connect sends /meta/connect: the first of a session asks for an
// immediate answer, later ones wait up to s.wait for events. A held
// connect the client ends at its own deadline is an answer without events.
func (s *cometSession) connect(ctx context.Context, first bool) (events []bayeuxMsg, rehandshake bool, err error) {
	wait := s.wait
	if first {
		wait = 0
	}
	rctx, cancel := context.WithTimeout(ctx, wait+2*time.Second)
	defer cancel()
	msgs, err := s.send(rctx, map[string]any{"channel": "/meta/connect", "connectionType": "long-polling",
		"advice": map[string]any{"timeout": wait.Milliseconds()}})
	if err != nil {
		if ctx.Err() == nil && rctx.Err() != nil {
			return nil, false, nil // Salesforce held it past our wait: nothing came
		}
		return nil, false, err
	}
	m, err := reply(msgs, "/meta/connect")
	if err != nil {
		return nil, false, err
	}
	if !m.Successful {
		switch {
		case isAuthFailure(m):
			return nil, false, &authError{reason: m.Error, gen: s.gen}
		case m.Advice != nil && m.Advice.Reconnect == "handshake", strings.HasPrefix(m.Error, "403::Unknown client"):
			return msgs, true, nil
		}
		return nil, false, fault.New(fault.ConnectorServer, "salesforce events: connect: %s", m.Error)
	}
	return msgs, m.Advice != nil && m.Advice.Reconnect == "handshake", nil
}

// disconnect ends the session; failures do not matter (Salesforce drops
// it after 40 s anyway).
func (s *cometSession) disconnect(ctx context.Context) {
	if s.clientID == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	_, _ = s.send(ctx, map[string]any{"channel": "/meta/disconnect"})
	s.clientID = ""
}

// NamedSplits implements connector.NamedSplitter for event-triggered runs:
// names are record ids from change events; the splits query those records
// (Id IN, idChunk at a time) with the run's projection and filters, by
// queryAll when includeDeletedRecords is set. A wave holding wholeObject
// reads the whole object.
func (d *Driver) NamedSplits(ctx context.Context, r *connector.ReadRequest, names []string) ([]connector.Split, error) {
	rr := *r
	object := rr.Object
	var props map[string]any
	if len(rr.Properties) > 0 {
		if err := json.Unmarshal(rr.Properties, &props); err != nil {
			return nil, fault.Wrap(fault.Invalid, err, "decode Salesforce source properties")
		}
	}
	if object == "" {
		object, _ = props["object"].(string)
	}
	rr.Object, _ = changeObject(object)
	if slices.Contains(names, wholeObject) {
		return d.Splits(ctx, &rr)
	}
	ids := slices.Compact(slices.Sorted(slices.Values(names)))
	ids = slices.DeleteFunc(ids, func(id string) bool { return id == "" })
	if len(ids) == 0 {
		return nil, nil
	}
	// A wave is small: REST query, unless the flow insists on Bulk API 2.0
	// (no count query to choose).
	if props == nil {
		props = map[string]any{}
	}
	if api, _ := props["dataTransferApi"].(string); !strings.EqualFold(api, "BULKV2") {
		props["dataTransferApi"] = "REST_SYNC"
	}
	raw, err := json.Marshal(props)
	if err != nil {
		return nil, err
	}
	rr.Properties = raw
	base, err := d.Splits(ctx, &rr)
	if err != nil {
		return nil, err
	}
	if len(base) != 1 {
		return nil, fault.New(fault.Internal, "salesforce: %d splits for one object", len(base))
	}
	bp := base[0].Opaque.(*plan)
	var out []connector.Split
	for i := 0; i < len(ids); i += idChunk {
		chunk := ids[i:min(i+idChunk, len(ids))]
		lits := make([]string, len(chunk))
		for j, id := range chunk {
			lits[j] = soqlString(id, false)
		}
		p := *bp
		cond := "Id IN (" + strings.Join(lits, ", ") + ")"
		if strings.Contains(p.soql, " WHERE ") {
			p.soql += " AND " + cond
		} else {
			p.soql += " WHERE " + cond
		}
		name := fmt.Sprintf("%s changed records %d-%d", base[0].Name, i+1, i+len(chunk))
		out = append(out, connector.Split{Name: name, Opaque: &p})
	}
	return out, nil
}
