package connector

import (
	"context"
	"encoding/json"
)

// EventSource is implemented per source connector type for event-triggered
// flows: the leader's planner polls it and starts a run for each wave of
// new changes (internal/jobs). It lives here, beside the other driver
// interfaces, so drivers implement it without importing the job queue.
type EventSource interface {
	// Poll compares the source with cursor, which is what the last Poll
	// returned, or nil at the first look after activation: then Poll
	// returns a cursor and no events (what is there is not new). Otherwise
	// it returns at most max events not yet seen, oldest first, and the
	// cursor after them; changes beyond max stay unseen for the next poll.
	Poll(ctx context.Context, src EventFlow, cursor json.RawMessage, max int) (EventPoll, error)
}

// EventFlow is what an EventSource needs of a flow.
type EventFlow struct {
	AccountID     string
	FlowName      string
	ConnectorType string
	ProfileName   string
	// Properties is the JSON of sourceConnectorProperties.<Type>.
	Properties json.RawMessage
}

// EventPoll is the result of a Poll.
type EventPoll struct {
	Events []Event
	Cursor json.RawMessage
}

// Event is one change at a source.
type Event struct {
	// Split is what the run reads for the event: the source split of that
	// name (for S3, the object key; for Salesforce, a record id).
	Split string
	// ID identifies the change among all of the source's changes (for S3:
	// key, size, modification time and ETag), so a changed object is a new
	// event; the run's execution id derives from the IDs of its wave.
	ID string
}
