/*
 * migrate.c: apply the embedded migrations (STYLE 2.10).
 *
 * Each pending file runs in a transaction of its own, together with its
 * schema_migrations row, and each of those transactions first takes a
 * fixed transaction-scoped advisory lock, then reads what is recorded:
 * servers starting at once apply each migration exactly once.  The lock
 * is held by the transaction, not the session, so this holds through a
 * pooler in transaction mode (PgBouncer) too, where one session's
 * consecutive transactions may run on different server connections and a
 * session lock would be taken on one and released on another.  Recorded
 * checksums must match the embedded files, and the database may not be
 * newer than the binary.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migrations.h"
#include "mt_util.h"
#include "server.h"

#define MIGRATE_LOCK_KEY "7318421905533817"

static int exec_ok(PGconn *c, const char *sql, struct mt_err *err)
{
	PGresult *r = PQexec(c, sql);
	int rc = 0;

	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
		db_err_from_result(r, c, err);
		mt_err_set(err, MT_EINTERNAL, "migration step failed: %.200s",
			   PQresultErrorMessage(r));
		rc = -1;
	}
	PQclear(r);
	return rc;
}

/* Within the caller's transaction: migration m and its row. */
static int apply_one(PGconn *c, const struct mt_migration *m, const char *sha,
		     struct mt_err *err)
{
	char ver[16];
	const char *vals[3] = { ver, m->name, sha };
	PGresult *r;
	int rc = 0;

	snprintf(ver, sizeof(ver), "%d", m->version);
	if (exec_ok(c, (const char *)m->sql, err)) {
		char keep[MT_ERR_MSG_MAX];

		snprintf(keep, sizeof(keep), "%s", err->msg);
		return mt_err_set(err, MT_EINTERNAL, "migration %s: %s", m->name, keep);
	}
	r = PQexecParams(c, "INSERT INTO schema_migrations (version, name, sha256) "
			 "VALUES ($1, $2, $3)", 3, NULL, vals, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		db_err_from_result(r, c, err);
		rc = -1;
	}
	PQclear(r);
	return rc;
}

/* Within the caller's transaction, under the lock: how many migrations the
 * database records (*applied), after checking them against sums. */
static int recorded(PGconn *c, char (*sums)[65], size_t *applied, struct mt_err *err)
{
	PGresult *r = PQexec(c, "SELECT version, sha256 FROM schema_migrations ORDER BY version");
	int rc = -1;

	*applied = 0;
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		db_err_from_result(r, c, err);
		goto out;
	}
	for (int i = 0; i < PQntuples(r); i++) {
		long v = strtol(PQgetvalue(r, i, 0), NULL, 10);

		if (v < 1 || (size_t)v > mt_migrations_count) {
			mt_err_set(err, MT_EINTERNAL,
				   "the database schema (migration %ld) is newer than this mltrackd "
				   "(knows %zu): upgrade mltrackd", v, mt_migrations_count);
			goto out;
		}
		if (strcmp(PQgetvalue(r, i, 1), sums[v - 1]) != 0) {
			mt_err_set(err, MT_EINTERNAL,
				   "migration %s was changed after it was applied (checksum %.12s "
				   "recorded, %.12s embedded)", mt_migrations[v - 1].name,
				   PQgetvalue(r, i, 1), sums[v - 1]);
			goto out;
		}
		*applied = (size_t)v;
	}
	if ((size_t)PQntuples(r) != *applied) {
		mt_err_set(err, MT_EINTERNAL, "schema_migrations has gaps: refusing to migrate");
		goto out;
	}
	rc = 0;
out:
	PQclear(r);
	return rc;
}

/* Whether the database's text sorts byte by byte (collation C or POSIX):
 * then a LIKE pattern's literal prefix bounds an index range, which
 * runs/search uses (sql_search.c).  Unknown counts as no. */
static void note_collation(PGconn *c)
{
	PGresult *r = PQexec(c, "SELECT datcollate IN ('C', 'POSIX') FROM pg_database "
			     "WHERE datname = current_database()");

	mt_cfg.db_bytewise = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
			     strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
}

int migrate_run(const char *conninfo, struct mt_err *err)
{
	PGconn *c = PQconnectdb(conninfo);
	int rc = -1;
	char (*sums)[65] = NULL;

	if (PQstatus(c) != CONNECTION_OK) {
		mt_err_set(err, MT_EUNAVAIL, "cannot connect to the database: %s",
			   PQerrorMessage(c));
		goto done;
	}
	sums = calloc(mt_migrations_count + 1, sizeof(*sums));
	if (!sums) {
		mt_err_set(err, MT_EINTERNAL, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < mt_migrations_count; i++)
		mt_sha256_hex(sums[i], mt_migrations[i].sql, mt_migrations[i].len);

	for (;;) {
		size_t applied;

		if (exec_ok(c, "BEGIN; SET LOCAL client_min_messages = warning; "
			    "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ")", err) ||
		    exec_ok(c, "CREATE TABLE IF NOT EXISTS schema_migrations ("
			    " version integer PRIMARY KEY,"
			    " name text NOT NULL,"
			    " sha256 text NOT NULL,"
			    " applied_at timestamptz NOT NULL DEFAULT now())", err) ||
		    recorded(c, sums, &applied, err))
			break;
		if (applied == mt_migrations_count) {
			rc = exec_ok(c, "COMMIT", err);
			if (rc == 0)
				note_collation(c);
			goto done;
		}
		if (apply_one(c, &mt_migrations[applied], sums[applied], err))
			break;
		if (exec_ok(c, "COMMIT", err))
			goto done;
		fprintf(stderr, "mltrackd: applied migration %s\n", mt_migrations[applied].name);
	}
	PQclear(PQexec(c, "ROLLBACK"));
done:
	free(sums);
	PQfinish(c);
	return rc;
}
