// Reads or writes a prediction Parquet file with DuckDB, a reader and
// writer independent of the one under test.
//
//   node duckdb.js read FILE    prints {columns, rows, kv, schema} as JSON
//   node duckdb.js write FILE   writes a prediction file the way DuckDB does
const { DuckDBInstance } = require('@duckdb/node-api');

async function main(mode, file) {
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  const q = async (sql) => (await c.runAndReadAll(sql)).getRowObjectsJson();
  const lit = "'" + file.replace(/'/g, "''") + "'";
  if (mode === 'write') {
    await c.run(`COPY (
      SELECT * FROM (VALUES
        (TIMESTAMP_NS '2020-01-03 00:00:00', 'SZ000001', 'x', 0.5::DOUBLE, NULL::FLOAT),
        (TIMESTAMP_NS '2020-01-02 00:00:00', 'SH600000', 'y', -1.25::DOUBLE, 0.25::FLOAT),
        (TIMESTAMP_NS '2020-01-02 00:00:00', 'SZ000001', 'z', NULL::DOUBLE, 2::FLOAT)
      ) AS t(datetime, instrument, note, score, label)
    ) TO ${lit} (FORMAT parquet)`);
    return {};
  }
  return {
    columns: await q(`SELECT column_name AS name, column_type AS type FROM (DESCRIBE SELECT * FROM read_parquet(${lit}))`),
    rows: await q(`SELECT strftime(datetime, '%Y-%m-%d %H:%M:%S') AS dt, * EXCLUDE (datetime) FROM read_parquet(${lit}) ORDER BY datetime, instrument`),
    kv: Object.fromEntries((await q(`SELECT decode(key) AS k, decode(value) AS v FROM parquet_kv_metadata(${lit})`)).map((r) => [r.k, r.v])),
    schema: await q(`SELECT name, type, logical_type, repetition_type FROM parquet_schema(${lit})`),
  };
}

main(process.argv[2], process.argv[3]).then(
  (out) => process.stdout.write(JSON.stringify(out) + '\n'),
  (err) => { console.error(String(err && err.stack || err)); process.exit(1); },
);
