package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/google/uuid"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/wire"
)

// Event-triggered flows.
//
// The planner (Scheduler.Tick, on the leader) polls the source of every
// Active flow whose trigger is Event through the EventSource registered for
// the source's connector type, and turns what changed since its last look
// into one run: a wave. The engine does not know where events come from; an
// EventSource does, and the cursor it keeps in Flow.State is opaque to the
// planner. S3 (s3conn.EventSource) lists the flow's prefix and compares it with
// the objects it has seen; a SaaS change feed (Salesforce change data
// capture) would keep a replay position as its cursor instead.
//
// What exists at activation is not an event: the first poll after StartFlow
// (made by StartFlow itself, through FlowActivated, or else by the next
// tick) only records a baseline cursor. StopFlow forgets the cursor, so a
// reactivated flow starts from a new baseline.
//
// Exactly once: a wave is taken from the source and recorded as the flow's
// pending wave in the same version-checked write of Flow.State that
// advances the cursor, so of two planners racing only one takes a given
// change; the other re-reads the state, enqueues the pending wave too
// (harmless: the run's id derives from the wave's events, so the record and
// the River job are the same), and polls from the new cursor. A planner that
// dies after the write leaves the pending wave for the next tick to enqueue.

// EventSource finds the changes at a flow's source since its last look; one
// is registered per source connector type (Config.EventSources). The
// event-source contract lives in package connector, beside the other
// driver interfaces; these names keep the planner's code readable.
type (
	EventSource = connector.EventSource
	EventFlow   = connector.EventFlow
	EventPoll   = connector.EventPoll
	Event       = connector.Event
)

// maxWaveEvents bounds the events one run takes (and the size of its job's
// arguments); the rest wait for the next tick.
const maxWaveEvents = 1000

// eventState is the planner's memory of an event flow in Flow.State.
type eventState struct {
	// Source is the signature of the source the cursor belongs to: when
	// UpdateFlow points the flow elsewhere, it starts from a new baseline.
	Source string `json:"source"`
	// Cursor is the EventSource's; nil until the baseline poll succeeded.
	Cursor json.RawMessage `json:"cursor,omitempty"`
	// Pending is the last wave taken from the source; it may not have been
	// enqueued yet (see the package comment above).
	Pending *eventWave `json:"pending,omitempty"`
}

type eventWave struct {
	ID     string   `json:"id"`
	Splits []string `json:"splits"`
}

// eventFlow is the flow's EventFlow and source signature; ok is false for a
// flow that is not event-triggered.
func (d *flowDoc) eventFlow(f *store.Flow) (EventFlow, string, bool) {
	if d.trigger() != wire.TriggerTypeEvent || d.SourceFlowConfig == nil {
		return EventFlow{}, "", false
	}
	src := d.SourceFlowConfig
	ef := EventFlow{AccountID: f.AccountID, FlowName: f.Name, ConnectorType: string(src.ConnectorType), ProfileName: src.ConnectorProfileName}
	if src.SourceConnectorProperties != nil {
		raw, _ := json.Marshal(src.SourceConnectorProperties)
		var m map[string]json.RawMessage
		if json.Unmarshal(raw, &m) == nil {
			ef.Properties = m[wire.UnionKey(wire.ConnectorType(ef.ConnectorType))]
		}
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s", ef.ConnectorType, ef.ProfileName, ef.Properties)
	return ef, hex.EncodeToString(h.Sum(nil)[:12]), true
}

// eventID is the execution id of a flow's run for a wave of events: the
// same on every replica. The flow's creation time keeps a re-created flow of
// the same name apart.
func eventID(f *store.Flow, events []Event) string {
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	sort.Strings(ids)
	h := sha256.New()
	fmt.Fprintf(h, "%s/%s/%d", f.AccountID, f.Name, f.CreatedAt.UnixMicro())
	for _, id := range ids {
		h.Write([]byte{0})
		h.Write([]byte(id))
	}
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("appflowd:event:"+hex.EncodeToString(h.Sum(nil)))).String()
}

// eventSource is the EventSource of a connector type, or nil.
func (q *Queue) eventSource(connectorType string) EventSource {
	return q.cfg.EventSources[connectorType]
}

// planEvents polls an Active event flow's source and enqueues a run for
// what is new. It returns how many runs it enqueued.
func (s *Scheduler) planEvents(ctx context.Context, account, name string) (int, error) {
	q := s.q
	enqueued := 0
	var taken *eventWave
	err := q.modifyFlow(ctx, account, name, func(f *store.Flow, st *flowState) (bool, error) {
		taken = nil
		if f.Status != string(wire.FlowStatusActive) {
			return false, nil
		}
		doc, err := decodeDoc(f)
		if err != nil {
			return false, err
		}
		ef, sig, ok := doc.eventFlow(f)
		if !ok {
			return false, nil
		}
		es := q.eventSource(ef.ConnectorType)
		if es == nil {
			// Events of this connector are not implemented (yet).
			q.cfg.Logger.Debug("event flow without an event source", "flow", name, "connector", ef.ConnectorType)
			return false, nil
		}
		changed := false
		if st.Events == nil || st.Events.Source != sig {
			// Activated without FlowActivated, or the source changed.
			st.Events = &eventState{Source: sig}
			changed = true
		}
		ev := st.Events
		if ev.Pending != nil {
			// Enqueue it (again: idempotent) before the write that drops it.
			n, err := q.enqueueWave(ctx, account, name, ev.Pending)
			if err != nil {
				return false, err
			}
			enqueued += n
			ev.Pending, changed = nil, true
		}
		poll, err := es.Poll(ctx, ef, ev.Cursor, maxWaveEvents)
		if err != nil {
			if changed {
				// Keep what was done; the poll is retried next tick.
				q.cfg.Logger.Warn("poll an event flow's source", "flow", name, "account", account, "err", err)
				return true, nil
			}
			return false, err
		}
		if ev.Cursor == nil && len(poll.Events) > 0 {
			return false, fmt.Errorf("event source %s returned events at its baseline poll", ef.ConnectorType)
		}
		if len(poll.Events) > 0 {
			w := &eventWave{ID: eventID(f, poll.Events)}
			for _, e := range poll.Events {
				w.Splits = append(w.Splits, e.Split)
			}
			ev.Pending, taken, changed = w, w, true
		}
		if string(poll.Cursor) != string(ev.Cursor) {
			ev.Cursor, changed = poll.Cursor, true
		}
		return changed, nil
	})
	if err != nil || taken == nil {
		return enqueued, err
	}
	n, err := q.enqueueWave(ctx, account, name, taken)
	if err != nil {
		// Written as pending: the next tick enqueues it.
		return enqueued, fmt.Errorf("enqueue event run %s (retried next tick): %w", taken.ID, err)
	}
	q.cfg.Logger.Info("event run enqueued", "flow", name, "account", account, "execution", taken.ID,
		"splits", splitsSummary(taken.Splits))
	return enqueued + n, nil
}

// enqueueWave creates the InProgress record and the job of a wave's run;
// both are keyed by the wave's id, so doing it twice does nothing more. It
// returns 1 when it inserted the job.
func (q *Queue) enqueueWave(ctx context.Context, account, name string, w *eventWave) (int, error) {
	if err := q.newRecord(ctx, account, name, w.ID, q.cfg.Now().UTC()); err != nil {
		return 0, fmt.Errorf("record event run: %w", err)
	}
	res, err := q.client.Insert(ctx, RunFlowArgs{AccountID: account, FlowName: name, ExecutionID: w.ID,
		Trigger: TriggerEvent, Splits: w.Splits}, nil)
	if err != nil {
		return 0, fmt.Errorf("enqueue event run: %w", err)
	}
	if res.UniqueSkippedAsDuplicate {
		return 0, nil
	}
	return 1, nil
}

// activateEvents takes the baseline of an event flow activated at StartFlow:
// what is at its source now is not an event. When the source cannot be read
// now, the next tick takes the baseline.
func (q *Queue) activateEvents(ctx context.Context, f *store.Flow, doc *flowDoc, st *flowState) {
	ef, sig, ok := doc.eventFlow(f)
	if !ok {
		st.Events = nil
		return
	}
	st.Events = &eventState{Source: sig}
	es := q.eventSource(ef.ConnectorType)
	if es == nil {
		q.cfg.Logger.Warn("event flow activated, but there is no event source for its connector", "flow", f.Name, "connector", ef.ConnectorType)
		return
	}
	poll, err := es.Poll(ctx, ef, nil, maxWaveEvents)
	if err != nil {
		q.cfg.Logger.Warn("baseline of an event flow's source; the planner retries", "flow", f.Name, "err", err)
		return
	}
	st.Events.Cursor = poll.Cursor
}

// splitsSummary names a few splits for logs.
func splitsSummary(splits []string) string {
	if len(splits) <= 3 {
		return strings.Join(splits, ",")
	}
	return strings.Join(splits[:3], ",") + fmt.Sprintf(",... (%d)", len(splits))
}
