package jobs

import (
	"time"

	"github.com/riverqueue/river/riverdriver/riversqlite"
)

// How soon a queued run starts. River fetches a queue's jobs when told of
// an insert and, as a backup, every fetchPollInterval; it fetches at most
// once per fetchCooldown (later calls wait for the end of the cooldown), and
// on PostgreSQL it drops the insert notifications sent within a cooldown of
// the previous one, so such a job waits for the poll. River's 100 ms
// default made sequential on-demand runs wait up to 100 ms each, and 1 s
// when a notification was dropped; 1 ms makes each insert fetch at once.
const (
	fetchCooldown     = time.Millisecond
	fetchPollInterval = time.Second
)

// localSQLite is River's SQLite driver without its listener. That listener
// polls a notification table every 50 ms, so a run waited up to 50 ms
// before its fetch; one process owns a SQLite data dir, and River tells the
// local producer of an insert at once (and of a cancel) when the driver has
// no listener, which is all a single process needs.
type localSQLite struct{ *riversqlite.Driver }

func (localSQLite) SupportsListener() bool     { return false }
func (localSQLite) SupportsListenNotify() bool { return false }
