// Command duckrun runs the peers bench's workload in embedded DuckDB, and
// fingerprints any system's output so outputs can be compared.
//
//	duckrun -in data.csv   -out out.jsonl   -to json
//	duckrun -in data.csv   -out out.parquet -to parquet
//	duckrun -in data.jsonl -out out.jsonl   -to json
//	duckrun -fingerprint out.jsonl         prints "rows=N fp=HEX"
//	duckrun -version
//
// The fingerprint is the row count and the XOR of a hash of each row's six
// output columns (amount rounded to cents), so it ignores row order, key
// order and number formatting.
package main

import (
	"database/sql"
	"flag"
	"fmt"
	"os"
	"strings"

	_ "github.com/duckdb/duckdb-go/v2"
)

// Explicit column types: no sniffing, and created_at stays a string as it
// does in appflowd.
const (
	inColumns  = `{'id': 'BIGINT', 'name': 'VARCHAR', 'email': 'VARCHAR', 'amount': 'DOUBLE', 'created_at': 'VARCHAR', 'country': 'VARCHAR'}`
	outColumns = `{'customer_id': 'BIGINT', 'full_name': 'VARCHAR', 'email_masked': 'VARCHAR', 'amount_x2': 'DOUBLE', 'created_at': 'VARCHAR', 'country_code': 'VARCHAR'}`
)

func main() {
	in := flag.String("in", "", "input .csv (with header) or .jsonl")
	out := flag.String("out", "", "output file")
	to := flag.String("to", "json", "output format: json (JSON Lines) or parquet")
	fp := flag.String("fingerprint", "", "print the row count and fingerprint of this .jsonl or .parquet output")
	version := flag.Bool("version", false, "print the DuckDB version")
	flag.Parse()

	db, err := sql.Open("duckdb", "")
	if err != nil {
		fail(err)
	}
	defer db.Close()
	switch {
	case *version:
		var v string
		if err := db.QueryRow(`SELECT version()`).Scan(&v); err != nil {
			fail(err)
		}
		fmt.Println(v)
	case *fp != "":
		rows, sum, err := fingerprint(db, *fp)
		if err != nil {
			fail(err)
		}
		fmt.Printf("rows=%d fp=%s\n", rows, sum)
	case *in != "" && *out != "":
		if err := transform(db, *in, *out, *to); err != nil {
			fail(err)
		}
	default:
		flag.Usage()
		os.Exit(2)
	}
}

// quote makes a SQL string literal.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func reader(path, columns string) string {
	switch {
	case strings.HasSuffix(path, ".parquet"):
		return "read_parquet(" + quote(path) + ")"
	case strings.HasSuffix(path, ".jsonl"), strings.HasSuffix(path, ".json"):
		return "read_json(" + quote(path) + ", format = 'newline_delimited', columns = " + columns + ")"
	default:
		return "read_csv(" + quote(path) + ", header = true, delim = ',', quote = '\"', columns = " + columns + ")"
	}
}

// transform is the workload as SQL: keep amount > 100, rename, mask the
// first 5 characters of email, double amount.
func transform(db *sql.DB, in, out, to string) error {
	if to != "json" && to != "parquet" {
		return fmt.Errorf("-to %q: want json or parquet", to)
	}
	_, err := db.Exec(`COPY (
	SELECT id AS customer_id, name AS full_name, '*****' || substr(email, 6) AS email_masked,
	       amount * 2 AS amount_x2, created_at, country AS country_code
	FROM ` + reader(in, inColumns) + `
	WHERE amount > 100
) TO ` + quote(out) + ` (FORMAT ` + to + `)`)
	return err
}

func fingerprint(db *sql.DB, path string) (int64, string, error) {
	var n int64
	var sum string
	err := db.QueryRow(`SELECT count(*), coalesce(printf('%016x', bit_xor(hash(
	customer_id::BIGINT, full_name::VARCHAR, email_masked::VARCHAR,
	round(amount_x2::DOUBLE, 2), created_at::VARCHAR, country_code::VARCHAR))), '-')
FROM `+reader(path, outColumns)).Scan(&n, &sum)
	return n, sum, err
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "duckrun:", err)
	os.Exit(1)
}
