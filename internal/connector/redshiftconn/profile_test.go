package redshiftconn

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
)

func TestDatabaseURLForms(t *testing.T) {
	for _, tc := range []struct {
		url, host string
		port      uint16
		db        string
		wantErr   string
	}{
		{url: "jdbc:redshift://cl.abc.us-east-1.redshift.amazonaws.com:5439/dev", host: "cl.abc.us-east-1.redshift.amazonaws.com", port: 5439, db: "dev"},
		{url: "jdbc:redshift://cl.example/dev?ssl=true", host: "cl.example", port: 5439, db: "dev"},
		{url: "jdbc:postgresql://db.example:6543/app?sslmode=disable", host: "db.example", port: 6543, db: "app"},
		{url: "postgres://u@127.0.0.1:5432/postgres?sslmode=disable", host: "127.0.0.1", port: 5432, db: "postgres"},
		{url: "mysql://x/y", wantErr: "must start with jdbc:redshift://"},
		{url: "jdbc:oracle://x:1/y", wantErr: "jdbc:oracle is not supported"},
	} {
		props, _ := json.Marshal(map[string]string{"databaseUrl": tc.url})
		creds, _ := json.Marshal(map[string]string{"username": "alice", "password": "pw"})
		d, err := New(connector.Deps{}, connector.Profile{Properties: props, Credentials: creds})
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !fault.Is(err, fault.Invalid) {
				t.Errorf("New(%s) = %v, want Invalid %q", tc.url, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("New(%s): %v", tc.url, err)
		}
		cfg, _ := d.pgConfig()
		if cfg.Host != tc.host || cfg.Port != tc.port || cfg.Database != tc.db || cfg.User != "alice" || cfg.Password != "pw" {
			t.Errorf("%s -> host %s port %d db %s user %s; want %s %d %s alice", tc.url, cfg.Host, cfg.Port, cfg.Database, cfg.User, tc.host, tc.port, tc.db)
		}
	}
}

func TestCheckProfile(t *testing.T) {
	conn := adminConn(t)
	ctx := context.Background()
	fx := newFixture(t)
	if err := fx.driver(t, "").CheckProfile(ctx); err != nil {
		t.Errorf("CheckProfile with a working profile: %v", err)
	}

	// The test server trusts 127.0.0.1, so it accepts any password; a
	// role that does not exist is refused at login all the same.
	t.Run("UnknownRole", func(t *testing.T) {
		fx := newFixture(t)
		fx.creds["username"] = randName("nobody_")
		fx.creds["password"] = "wrong"
		err := fx.driver(t, "").CheckProfile(ctx)
		if !fault.Is(err, fault.AuthFailed) || !strings.Contains(err.Error(), "does not exist") {
			t.Errorf("CheckProfile = %v (code %v), want AuthFailed with the server's reason", err, fault.CodeOf(err))
		}
	})

	t.Run("RoleWithPasswordUnderTrust", func(t *testing.T) {
		role := randName("rs_role_")
		mustExec(t, conn, "CREATE ROLE "+role+" LOGIN PASSWORD 'right'")
		t.Cleanup(func() { _, _ = adminConn(t).Exec(ctx, "DROP ROLE "+role) })
		var method string
		if err := conn.QueryRow(ctx, `SELECT auth_method FROM pg_hba_file_rules WHERE address = '127.0.0.1' LIMIT 1`).Scan(&method); err != nil || method != "trust" {
			t.Skipf("pg_hba for 127.0.0.1 is %q (%v); this case documents trust only", method, err)
		}
		fx := newFixture(t)
		fx.creds["username"], fx.creds["password"] = role, "wrong"
		if err := fx.driver(t, "").CheckProfile(ctx); err != nil {
			t.Errorf("under trust auth a wrong password is accepted by the server, got %v", err)
		}
	})

	t.Run("BadPassword", func(t *testing.T) {
		// A PostgreSQL-wire server that asks for a password and refuses it,
		// as a server with password auth does.
		addr := refusingServer(t)
		fx := newFixture(t)
		fx.props["databaseUrl"] = "postgres://" + addr + "/dev?sslmode=disable"
		fx.creds["username"], fx.creds["password"] = "alice", "wrong"
		err := fx.driver(t, "").CheckProfile(ctx)
		if !fault.Is(err, fault.AuthFailed) || !strings.Contains(err.Error(), `password authentication failed for user "alice"`) {
			t.Errorf("CheckProfile = %v (code %v), want AuthFailed with the server's reason", err, fault.CodeOf(err))
		}
	})

	t.Run("Unreachable", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close() // nothing listens there now
		fx := newFixture(t)
		fx.props["databaseUrl"] = "jdbc:redshift://" + addr + "/dev"
		err = fx.driver(t, "").CheckProfile(ctx)
		if !fault.Is(err, fault.Invalid) || !strings.Contains(err.Error(), "database host "+addr+" is unreachable") {
			t.Errorf("CheckProfile = %v (code %v), want Invalid naming %s", err, fault.CodeOf(err), addr)
		}
	})

	t.Run("MissingBucket", func(t *testing.T) {
		fx := newFixture(t)
		fx.props["bucketName"] = "no-such-bucket"
		err := fx.driver(t, "").CheckProfile(ctx)
		if !fault.Is(err, fault.Invalid) || !strings.Contains(err.Error(), `"no-such-bucket"`) {
			t.Errorf("CheckProfile = %v, want Invalid naming the bucket", err)
		}
	})
}

// refusingServer accepts connections, asks for a cleartext password and
// answers 28P01.
func refusingServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				be := pgproto3.NewBackend(c, c)
				msg, err := be.ReceiveStartupMessage()
				if err != nil {
					return
				}
				sm, ok := msg.(*pgproto3.StartupMessage)
				if !ok {
					return
				}
				be.Send(&pgproto3.AuthenticationCleartextPassword{})
				if be.Flush() != nil {
					return
				}
				if err := be.SetAuthType(pgproto3.AuthTypeCleartextPassword); err != nil {
					return
				}
				if _, err := be.Receive(); err != nil {
					return
				}
				be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", Code: "28P01",
					Message: `password authentication failed for user "` + sm.Parameters["user"] + `"`})
				_ = be.Flush()
			}(c)
		}
	}()
	return ln.Addr().String()
}

func TestCatalog(t *testing.T) {
	conn := adminConn(t)
	schema := newSchema(t, conn)
	mustExec(t, conn, "CREATE TABLE "+schema+".orders (id bigint PRIMARY KEY, total numeric(10,2) NOT NULL, placed timestamptz, note varchar(20), ok boolean, qty smallint, price double precision, d date)")
	mustExec(t, conn, "CREATE TABLE "+schema+".empty (x text)")
	mustExec(t, conn, "CREATE VIEW "+schema+".v AS SELECT 1 AS one")
	d := newFixture(t).driver(t, "")
	ctx := context.Background()

	top, err := d.ListEntities(ctx, "")
	if err != nil {
		t.Fatalf("ListEntities(\"\"): %v", err)
	}
	found := false
	for _, e := range top["Schemas"] {
		if e.Name == schema {
			found = e.HasNestedEntities
		}
		if strings.HasPrefix(e.Name, "pg_") || e.Name == "information_schema" {
			t.Errorf("system schema %s listed", e.Name)
		}
	}
	if !found {
		t.Errorf("ListEntities(\"\") = %v, want schema %s with nested entities", top, schema)
	}

	tables, err := d.ListEntities(ctx, schema)
	if err != nil {
		t.Fatalf("ListEntities(%s): %v", schema, err)
	}
	var names []string
	for _, e := range tables["Tables"] {
		names = append(names, e.Name)
		if e.HasNestedEntities {
			t.Errorf("table %s has nested entities", e.Name)
		}
	}
	if want := schema + ".empty," + schema + ".orders"; strings.Join(names, ",") != want {
		t.Errorf("tables = %v, want %s (no views)", names, want)
	}
	if _, err := d.ListEntities(ctx, "no_such_schema_x"); !fault.Is(err, fault.NotFound) {
		t.Errorf("ListEntities(missing schema) = %v, want NotFound", err)
	}

	fields, err := d.DescribeEntity(ctx, schema+".orders")
	if err != nil {
		t.Fatalf("DescribeEntity: %v", err)
	}
	var got []string
	for _, f := range fields {
		got = append(got, f.Name+":"+string(f.Type)+":"+map[bool]string{true: "null", false: "notnull"}[f.Nullable]+
			map[bool]string{true: ":pk", false: ""}[f.IsPrimaryKey]+":"+strings.Join(f.WriteOperations, "|"))
	}
	want := []string{"id:long:notnull:pk:INSERT", "total:decimal:notnull:INSERT", "placed:datetime:null:INSERT",
		"note:string:null:INSERT", "ok:boolean:null:INSERT", "qty:integer:null:INSERT", "price:double:null:INSERT", "d:date:null:INSERT"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("DescribeEntity =\n %v\nwant\n %v", got, want)
	}
	if _, err := d.DescribeEntity(ctx, schema+".nope"); !fault.Is(err, fault.NotFound) {
		t.Errorf("DescribeEntity(missing) = %v, want NotFound", err)
	}
}

func TestRegistered(t *testing.T) {
	s, ok := connector.Default().Lookup(Type)
	if !ok || s.Open == nil || !s.CanUseAsDestination || !s.NeedsProfile {
		t.Errorf("registry entry for %s = %+v, %v; want a destination with Open and a profile", Type, s.Capabilities, ok)
	}
}
