package sftest

// Change Data Capture over the Streaming API: every write to an object of
// the org (Insert, Update, SoftDelete, Undelete, sObject Collections, Bulk
// API 2.0 ingest) publishes a change event on /data/<Object>ChangeEvent
// (and /data/ChangeEvents), which Bayeux clients read by CometD long
// polling on /cometd/<version>. What it follows:
//
//   - Streaming API Developer Guide, "How the Client Connects": handshake,
//     subscribe, then /meta/connect long polling; the first connect of a
//     session answers at once (CometD), later ones are held until events
//     arrive or the timeout (the client's advice.timeout, else 110 s,
//     "Clients and Timeouts").
//   - "Message Durability" / "Replay events": the replay extension, ext
//     {"replay": true} at handshake and ext {"replay": {channel: id}} at
//     subscribe; -1 new events only, -2 every retained event, a stored
//     replayId the events after it. Replay ids grow but are not contiguous.
//   - "Handling Streaming API Errors": an invalid token fails a handshake
//     with 403::Handshake denied and ext.sfdc.failureReason
//     401::Authentication invalid, and a connect with 401::Authentication
//     invalid, advice reconnect none; a session the server dropped answers
//     403::Unknown client, advice reconnect handshake.
//   - "Streaming API Error Codes": 400 for a missing or old API version in
//     the URI, a channel that does not exist, a replayId outside the
//     retention window, a session without its BAYEUX_BROWSER cookie.
//   - Change Data Capture Developer Guide, "Change Event Message
//     Structure" and "ChangeEventHeader Fields": data {schema, payload
//     {ChangeEventHeader {entityName, recordIds, changeType, changedFields,
//     changeOrigin, transactionKey, sequenceNumber, commitTimestamp (epoch
//     ms), commitUser, commitNumber}, fields...}, event {replayId}}; a
//     created record's non-null fields, an updated record's changed ones,
//     none for a delete; IsDeleted and SystemModstamp never.
//   - "Gap Events" and "Overflow Events": GAP_* change types carry record
//     ids and no fields; GAP_OVERFLOW carries neither.

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/appflowd/appflowd/internal/connector/fakeapi"
)

type cdcEvent struct {
	replayID int64
	object   string
	payload  map[string]any
}

type cometClient struct {
	subs     map[string]int64 // channel -> replay id of the last event delivered
	connects int
}

type cdcState struct {
	events  []cdcEvent
	floor   int64 // events up to this replay id have left the retention window
	clients map[string]*cometClient
	notify  chan struct{} // closed and replaced when an event is published
	batch   int           // events per connect response
	txn     int
	dropIn  int // > 0: connects left before every session is dropped
	shakes  int // successful handshakes
}

func newCDCState() cdcState {
	return cdcState{clients: map[string]*cometClient{}, notify: make(chan struct{}), batch: 100}
}

// publish records a change event; the caller holds o.mu.
func (o *Org) publish(obj *Object, changeType string, rec map[string]any, changed []string) {
	id, _ := rec["Id"].(string)
	payload := map[string]any{}
	switch changeType {
	case "CREATE", "UNDELETE":
		for k, v := range rec {
			if k != "Id" && k != "IsDeleted" && k != "SystemModstamp" && v != nil {
				payload[k] = restValue(v)
			}
		}
	case "UPDATE":
		for _, k := range changed {
			if v := rec[k]; v != nil && k != "SystemModstamp" {
				payload[k] = restValue(v)
			}
		}
	}
	o.emit(obj.desc.Name, changeType, []string{id}, changed, payload)
}

// emit appends an event; the caller holds o.mu.
func (o *Org) emit(object, changeType string, ids, changed []string, payload map[string]any) {
	o.cdc.txn++
	if changed == nil {
		changed = []string{}
	}
	sort.Strings(changed)
	if ids == nil {
		ids = []string{}
	}
	payload["ChangeEventHeader"] = map[string]any{
		"entityName": object, "recordIds": ids, "changeType": changeType, "changedFields": changed,
		"changeOrigin":   "com/salesforce/api/rest/" + strings.TrimPrefix(APIVersion, "v") + ";client=sftest",
		"transactionKey": fmt.Sprintf("0004f%011d", o.cdc.txn), "sequenceNumber": 1,
		"commitTimestamp": time.Now().UnixMilli(), "commitUser": "005000000000001AAA", "commitNumber": 10000000 + o.cdc.txn,
	}
	o.cdc.events = append(o.cdc.events, cdcEvent{replayID: int64(o.next()), object: object, payload: payload})
	close(o.cdc.notify)
	o.cdc.notify = make(chan struct{})
}

// Update changes fields of a record, as a user in the org would, and
// publishes an UPDATE change event with those fields.
func (o *Org) Update(object, id string, fields map[string]any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	obj := o.objects[object]
	for _, rec := range obj.records {
		if rec["Id"] == id {
			var changed []string
			for k, v := range fields {
				rec[k] = v
				changed = append(changed, k)
			}
			o.publish(obj, "UPDATE", rec, changed)
			return
		}
	}
	panic("sftest: Update of an unknown record " + id)
}

// Undelete takes a record out of the recycle bin (UNDELETE event).
func (o *Org) Undelete(object, id string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	obj := o.objects[object]
	for _, rec := range obj.records {
		if rec["Id"] == id {
			rec["IsDeleted"] = false
			o.publish(obj, "UNDELETE", rec, nil)
			return
		}
	}
	panic("sftest: Undelete of an unknown record " + id)
}

// Gap publishes a gap event (GAP_CREATE, GAP_UPDATE, ..., or GAP_OVERFLOW
// with no ids): header only.
func (o *Org) Gap(object, changeType string, ids ...string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.emit(object, changeType, ids, nil, map[string]any{})
}

// ExpireEvents drops every event published so far out of the retention
// window: replaying from their ids is an error, -2 starts after them.
func (o *Org) ExpireEvents() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if n := len(o.cdc.events); n > 0 {
		o.cdc.floor = o.cdc.events[n-1].replayID
		o.cdc.events = nil
	}
}

// DropCometClients forgets every Streaming API session, as the server does
// after a client's reconnect timeout: their next message gets 403::Unknown
// client.
func (o *Org) DropCometClients() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.cdc.clients = map[string]*cometClient{}
}

// DropCometClientsAfter lets n more connects through, then drops every
// session (DropCometClients).
func (o *Org) DropCometClientsAfter(n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.cdc.dropIn = n
}

// CometHandshakes counts the successful Streaming API handshakes.
func (o *Org) CometHandshakes() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.cdc.shakes
}

// SetCometBatch sets how many events one connect response carries.
func (o *Org) SetCometBatch(n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.cdc.batch = n
}

// ChangeEvents counts the change events published for object.
func (o *Org) ChangeEvents(object string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, e := range o.cdc.events {
		if e.object == object {
			n++
		}
	}
	return n
}

// channelObject is the object of a change event channel; "" for
// /data/ChangeEvents (all objects); ok false for a channel that does not exist.
func (o *Org) channelObject(ch string) (string, bool) {
	if ch == "/data/ChangeEvents" {
		return "", true
	}
	name, ok := strings.CutPrefix(ch, "/data/")
	if !ok {
		return "", false
	}
	name, ok = strings.CutSuffix(name, "ChangeEvent")
	if !ok {
		return "", false
	}
	_, exists := o.objects[name]
	return name, exists
}

type bayeux = map[string]any

func (o *Org) cometd(w http.ResponseWriter, r *http.Request) {
	version := strings.Trim(strings.TrimPrefix(r.URL.Path, "/cometd/"), "/")
	want := strings.TrimPrefix(APIVersion, "v")
	if version == "" {
		sfError(w, 400, "400", "API version in the URI is mandatory. URI format: '/cometd/"+want+"'")
		return
	}
	if v, err := strconv.ParseFloat(version, 64); err != nil || v < 37 {
		sfError(w, 400, "400", "Unsupported API version. Only API versions '37.0' and later are supported. URI format: '/cometd/"+want+"'")
		return
	}
	if r.Method != http.MethodPost {
		sfError(w, 405, "METHOD_NOT_ALLOWED", "HTTP Method not allowed")
		return
	}
	var msgs []bayeux
	if err := fakeapi.ReadJSON(r, &msgs); err != nil {
		sfError(w, 400, "400", "invalid Bayeux message: "+err.Error())
		return
	}
	auth := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		token, _ = strings.CutPrefix(auth, "OAuth ")
	}
	o.mu.Lock()
	authOK := o.access[token]
	o.mu.Unlock()
	var out []bayeux
	for _, m := range msgs {
		out = append(out, o.cometMessage(w, r, m, authOK, auth == "")...)
	}
	writeJSON(w, 200, out)
}

func reply(m bayeux, extra bayeux) bayeux {
	out := bayeux{"channel": m["channel"]}
	if id, ok := m["id"]; ok {
		out["id"] = id
	}
	if c, ok := m["clientId"]; ok {
		out["clientId"] = c
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

func failure(m bayeux, msg, reconnect string) bayeux {
	return reply(m, bayeux{"successful": false, "error": msg, "advice": bayeux{"reconnect": reconnect, "interval": 0}})
}

func (o *Org) cometMessage(w http.ResponseWriter, r *http.Request, m bayeux, authOK, noAuth bool) []bayeux {
	ch, _ := m["channel"].(string)
	authErr := "401::Authentication invalid"
	if noAuth {
		authErr = "401::Request requires authentication"
	}
	if ch == "/meta/handshake" {
		if !authOK {
			return []bayeux{reply(m, bayeux{"successful": false, "error": "403::Handshake denied",
				"ext": bayeux{"sfdc": bayeux{"failureReason": authErr}}, "advice": bayeux{"reconnect": "none"}})}
		}
		types, _ := m["supportedConnectionTypes"].([]any)
		lp := false
		for _, t := range types {
			lp = lp || t == "long-polling"
		}
		if !lp {
			return []bayeux{failure(m, "400::Invalid connection type", "none")}
		}
		o.mu.Lock()
		id := fmt.Sprintf("sftest%012d", o.next())
		o.cdc.clients[id] = &cometClient{subs: map[string]int64{}}
		o.cdc.shakes++
		o.mu.Unlock()
		// The session's cookie: the client must send it back.
		http.SetCookie(w, &http.Cookie{Name: "BAYEUX_BROWSER", Value: id, Path: "/"})
		return []bayeux{reply(m, bayeux{"successful": true, "clientId": id, "version": "1.0", "minimumVersion": "1.0",
			"supportedConnectionTypes": []string{"long-polling"}, "ext": bayeux{"replay": true, "payload.format": true},
			"advice": bayeux{"interval": 0, "timeout": 110000, "reconnect": "retry"}})}
	}
	clientID, _ := m["clientId"].(string)
	o.mu.Lock()
	c := o.cdc.clients[clientID]
	o.mu.Unlock()
	if c == nil {
		return []bayeux{failure(m, "403::Unknown client", "handshake")}
	}
	if ck, err := r.Cookie("BAYEUX_BROWSER"); err != nil || ck.Value == "" {
		return []bayeux{failure(m, "400::Client "+clientID+" has established a session, but no BAYEUX_BROWSER cookie present", "handshake")}
	}
	if !authOK {
		return []bayeux{failure(m, authErr, "none")}
	}
	switch ch {
	case "/meta/subscribe":
		sub, _ := m["subscription"].(string)
		o.mu.Lock()
		defer o.mu.Unlock()
		if _, ok := o.channelObject(sub); !ok {
			return []bayeux{failure(m, "400::The channel you requested to subscribe to doesn't exist {"+sub+"}", "retry")}
		}
		from := int64(-1)
		if ext, ok := m["ext"].(map[string]any); ok {
			if rp, ok := ext["replay"].(map[string]any); ok {
				if v, ok := rp[sub].(float64); ok {
					from = int64(v)
				}
			}
		}
		latest := o.cdc.floor
		if n := len(o.cdc.events); n > 0 {
			latest = o.cdc.events[n-1].replayID
		}
		switch {
		case from == -1:
			from = latest
		case from == -2:
			from = o.cdc.floor
		case from < o.cdc.floor || from > latest:
			return []bayeux{reply(m, bayeux{"successful": false, "subscription": sub, "error": fmt.Sprintf(
				"400::The replayId {%d} you provided was invalid.  Please provide a valid ID, -2 to replay all events, or -1 to replay only new events.", from)})}
		}
		c.subs[sub] = from
		return []bayeux{reply(m, bayeux{"successful": true, "subscription": sub})}
	case "/meta/unsubscribe":
		sub, _ := m["subscription"].(string)
		o.mu.Lock()
		delete(c.subs, sub)
		o.mu.Unlock()
		return []bayeux{reply(m, bayeux{"successful": true, "subscription": sub})}
	case "/meta/disconnect":
		o.mu.Lock()
		delete(o.cdc.clients, clientID)
		o.mu.Unlock()
		return []bayeux{reply(m, bayeux{"successful": true})}
	case "/meta/connect":
		if m["connectionType"] != "long-polling" {
			return []bayeux{failure(m, fmt.Sprintf("400::Invalid connection type %v", m["connectionType"]), "retry")}
		}
		timeout := 110 * time.Second
		if adv, ok := m["advice"].(map[string]any); ok {
			if t, ok := adv["timeout"].(float64); ok && t >= 0 {
				timeout = min(timeout, time.Duration(t)*time.Millisecond)
			}
		}
		evs := o.cometConnect(r.Context(), c, timeout)
		o.mu.Lock()
		if o.cdc.dropIn > 0 {
			if o.cdc.dropIn--; o.cdc.dropIn == 0 {
				o.cdc.clients = map[string]*cometClient{}
			}
		}
		o.mu.Unlock()
		out := append(evs, reply(m, bayeux{"successful": true,
			"advice": bayeux{"reconnect": "retry", "interval": 0, "timeout": 110000}}))
		return out
	}
	return []bayeux{failure(m, "400::Unknown channel "+ch, "retry")}
}

// cometConnect answers a /meta/connect: the events after each
// subscription's position, at once on the session's first connect, else
// as soon as there are any or when timeout passes.
func (o *Org) cometConnect(ctx context.Context, c *cometClient, timeout time.Duration) []bayeux {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		o.mu.Lock()
		first := c.connects == 0
		evs := o.deliverLocked(c)
		notify := o.cdc.notify
		if len(evs) > 0 || first {
			c.connects++
			o.mu.Unlock()
			return evs
		}
		o.mu.Unlock()
		select {
		case <-notify:
		case <-t.C:
			o.mu.Lock()
			c.connects++
			o.mu.Unlock()
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}

// deliverLocked takes up to a batch of events past the client's positions,
// in replay order, and advances the positions.
func (o *Org) deliverLocked(c *cometClient) []bayeux {
	var out []bayeux
	for _, e := range o.cdc.events {
		if len(out) >= o.cdc.batch {
			break
		}
		for _, ch := range sortedKeys(c.subs) {
			obj, _ := o.channelObject(ch)
			if e.replayID <= c.subs[ch] || (obj != "" && obj != e.object) {
				continue
			}
			out = append(out, bayeux{"channel": ch, "data": bayeux{
				"schema": "sftest-" + e.object, "payload": e.payload, "event": bayeux{"replayId": e.replayID}}})
			c.subs[ch] = e.replayID
		}
	}
	return out
}

func sortedKeys(m map[string]int64) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
