package salesforceconn

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/salesforceconn/sftest"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

func contacts(o *sftest.Org) *sftest.Object {
	obj := o.AddObject("Contact", sftest.F("LastName", "string"), sftest.F("Score", "double"),
		sftest.Field{Name: "Ext__c", Label: "Ext", Type: "string", Createable: true, Updateable: true, ExternalID: true, IDLookup: true, Filterable: true})
	obj.Validate(func(rec map[string]any) *sftest.Err {
		if rec["LastName"] == nil {
			return &sftest.Err{Code: "REQUIRED_FIELD_MISSING", Msg: "Required fields are missing: [LastName]", Fields: []string{"LastName"}}
		}
		if rec["LastName"] == "bad" {
			return &sftest.Err{Code: "FIELD_CUSTOM_VALIDATION_EXCEPTION", Msg: "Last name may not be bad"}
		}
		return nil
	})
	return obj
}

func write(t *testing.T, d *Driver, op, api string, ids []string, failFast bool, fields []string, rows ...[]record.Value) (*connector.WriteResult, error) {
	t.Helper()
	ctx := context.Background()
	p, _ := json.Marshal(map[string]any{"object": "Contact", "dataTransferApi": api, "writeOperationType": op, "idFieldNames": ids})
	w, err := d.OpenWriter(ctx, &connector.WriteRequest{Object: "Contact", Properties: p, WriteOperation: op, IDFields: ids,
		ErrorHandling: &connector.ErrorHandling{FailOnFirstError: failFast}})
	if err != nil {
		return nil, err
	}
	b := &record.Batch{Fields: fields, Split: "in.csv", FirstLine: 2, Final: true}
	for _, r := range rows {
		b.AppendRow(r)
	}
	if err := w.Write(ctx, b); err != nil {
		return nil, err
	}
	return w.Commit(ctx)
}

func TestWriteOperationsAndFailures(t *testing.T) {
	for _, api := range []string{"REST_SYNC", "BULKV2"} {
		t.Run(api, func(t *testing.T) {
			o := sftest.NewOrg(t)
			contacts(o)
			d := openTest(t, o, testOptions(), goodCreds)
			ids := o.Insert("Contact", map[string]any{"LastName": "Old", "Ext__c": "E1"}, map[string]any{"LastName": "Gone"})

			// INSERT: one record fails Salesforce's validation, one misses a required field.
			res, err := write(t, d, "INSERT", api, nil, false, []string{"LastName", "Score"},
				[]record.Value{record.Str("Ann"), record.FloatVal(1.5)},
				[]record.Value{record.Str("bad"), record.IntVal(2)},
				[]record.Value{record.NullVal(), record.IntVal(3)},
				[]record.Value{record.Str("Bo"), record.NullVal()})
			if err != nil {
				t.Fatal(err)
			}
			if res.RecordsWritten != 2 || len(res.Failures) != 2 {
				t.Fatalf("INSERT wrote %d with failures %+v, want 2 and 2", res.RecordsWritten, res.Failures)
			}
			byLine := map[int64]connector.RecordFailure{}
			for _, f := range res.Failures {
				byLine[f.Line] = f
			}
			if f := byLine[3]; f.Split != "in.csv" || f.Reason != "FIELD_CUSTOM_VALIDATION_EXCEPTION: Last name may not be bad" || f.Record["LastName"] != "bad" {
				t.Errorf("failure at line 3 = %+v", f)
			}
			if f := byLine[4]; !strings.HasPrefix(f.Reason, "REQUIRED_FIELD_MISSING: Required fields are missing: [LastName]") {
				t.Errorf("failure at line 4 = %+v", f)
			}

			// UPDATE matches on the record Id, from the idFieldNames column.
			res, err = write(t, d, "UPDATE", api, []string{"ContactId"}, false, []string{"ContactId", "Score"},
				[]record.Value{record.Str(ids[0]), record.IntVal(9)},
				[]record.Value{record.Str("003000000000000XYZ"), record.IntVal(1)})
			if err != nil {
				t.Fatal(err)
			}
			if res.RecordsWritten != 1 || len(res.Failures) != 1 || !strings.HasPrefix(res.Failures[0].Reason, "INVALID_CROSS_REFERENCE_KEY") {
				t.Errorf("UPDATE = %+v", res)
			}

			// UPSERT on the external id: one update, one insert.
			res, err = write(t, d, "UPSERT", api, []string{"Ext__c"}, false, []string{"Ext__c", "LastName"},
				[]record.Value{record.Str("E1"), record.Str("Renamed")},
				[]record.Value{record.Str("E2"), record.Str("New")})
			if err != nil || res.RecordsWritten != 2 || len(res.Failures) != 0 {
				t.Fatalf("UPSERT = %+v, %v", res, err)
			}

			// DELETE takes the Ids and ignores other columns.
			res, err = write(t, d, "DELETE", api, []string{"Id"}, false, []string{"Id", "LastName"},
				[]record.Value{record.Str(ids[1]), record.Str("ignored")})
			if err != nil || res.RecordsWritten != 1 {
				t.Fatalf("DELETE = %+v, %v", res, err)
			}

			got := map[string]string{}
			for _, r := range o.Live("Contact") {
				got[fmt.Sprint(r["LastName"])] = sftest.CSVValue(r["Score"]) + "|" + sftest.CSVValue(r["Ext__c"])
			}
			want := map[string]string{"Renamed": "9|E1", "Ann": "1.5|", "Bo": "|", "New": "|E2"}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("org holds %v, want %v", got, want)
			}
		})
	}
}

func TestFailOnFirstDestinationError(t *testing.T) {
	for _, api := range []string{"REST_SYNC", "BULKV2"} {
		o := sftest.NewOrg(t)
		contacts(o)
		d := openTest(t, o, testOptions(), goodCreds)
		_, err := write(t, d, "INSERT", api, nil, true, []string{"LastName"},
			[]record.Value{record.Str("ok")}, []record.Value{record.Str("bad")})
		if err == nil || !strings.Contains(err.Error(), "FIELD_CUSTOM_VALIDATION_EXCEPTION") || !strings.Contains(err.Error(), "in.csv line 3") {
			t.Errorf("%s: Commit = %v, want the first rejection named", api, err)
		}
		if n := len(o.Live("Contact")); n != 1 {
			t.Errorf("%s: %d records written, want the good one kept", api, n)
		}
	}
}

func TestAutomaticWriteThreshold(t *testing.T) {
	for _, c := range []struct {
		n    int
		bulk bool
	}{{999, false}, {1000, true}} {
		o := sftest.NewOrg(t)
		contacts(o)
		d := openTest(t, o, testOptions(), goodCreds)
		rows := make([][]record.Value, c.n)
		for i := range rows {
			rows[i] = []record.Value{record.Str(fmt.Sprint("n", i))}
		}
		res, err := write(t, d, "INSERT", "AUTOMATIC", nil, false, []string{"LastName"}, rows...)
		if err != nil || res.RecordsWritten != int64(c.n) {
			t.Fatalf("%d records: %+v, %v", c.n, res, err)
		}
		jobs, colls := o.Logged("POST "+sftest.VersionPrefix+"/jobs/ingest"), o.Logged("POST "+sftest.VersionPrefix+"/composite/sobjects")
		if c.bulk && (jobs != 1 || colls != 0) || !c.bulk && (jobs != 0 || colls != 5) {
			t.Errorf("%d records: %d ingest jobs, %d collection calls", c.n, jobs, colls)
		}
	}
}

func TestUpsertNeedsExternalID(t *testing.T) {
	o := sftest.NewOrg(t)
	contacts(o)
	d := openTest(t, o, testOptions(), goodCreds)
	_, err := write(t, d, "UPSERT", "REST_SYNC", []string{"LastName"}, false, []string{"LastName"})
	if !fault.Is(err, fault.Invalid) {
		t.Errorf("UPSERT on a plain field = %v, want Invalid", err)
	}
}
