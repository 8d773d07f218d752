// A module of its own, so the repository's module never depends on cgo or
// DuckDB: bench/peers/run.sh copies this directory to a scratch dir, adds the
// pinned duckdb-go release there and builds it.
module github.com/appflowd/appflowd/bench/peers/duckdb

go 1.24
