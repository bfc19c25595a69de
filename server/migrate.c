/*
 * migrate.c: apply the embedded migrations (STYLE 2.10).
 *
 * One dedicated connection takes a fixed advisory lock, so servers starting
 * at once apply each migration exactly once.  Recorded checksums must match
 * the embedded files and the database may not be newer than the binary.
 * Each pending file runs in its own transaction together with its
 * schema_migrations row.
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

static int apply_one(PGconn *c, const struct mt_migration *m, const char *sha,
		     struct mt_err *err)
{
	char ver[16];
	const char *vals[3] = { ver, m->name, sha };
	PGresult *r;

	snprintf(ver, sizeof(ver), "%d", m->version);
	if (exec_ok(c, "BEGIN", err))
		return -1;
	if (exec_ok(c, (const char *)m->sql, err)) {
		char keep[MT_ERR_MSG_MAX];

		snprintf(keep, sizeof(keep), "%s", err->msg);
		PQclear(PQexec(c, "ROLLBACK"));
		return mt_err_set(err, MT_EINTERNAL, "migration %s: %s", m->name, keep);
	}
	r = PQexecParams(c, "INSERT INTO schema_migrations (version, name, sha256) "
			 "VALUES ($1, $2, $3)", 3, NULL, vals, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		db_err_from_result(r, c, err);
		PQclear(r);
		PQclear(PQexec(c, "ROLLBACK"));
		return -1;
	}
	PQclear(r);
	if (exec_ok(c, "COMMIT", err))
		return -1;
	fprintf(stderr, "mltrackd: applied migration %s\n", m->name);
	return 0;
}

int migrate_run(const char *conninfo, struct mt_err *err)
{
	PGconn *c = PQconnectdb(conninfo);
	PGresult *r = NULL;
	int rc = -1, applied = 0;
	char (*sums)[65] = NULL;

	if (PQstatus(c) != CONNECTION_OK) {
		mt_err_set(err, MT_EUNAVAIL, "cannot connect to the database: %s",
			   PQerrorMessage(c));
		goto done;
	}
	PQclear(PQexec(c, "SET client_min_messages = warning"));
	if (exec_ok(c, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", err))
		goto done;
	if (exec_ok(c, "CREATE TABLE IF NOT EXISTS schema_migrations ("
		    " version integer PRIMARY KEY,"
		    " name text NOT NULL,"
		    " sha256 text NOT NULL,"
		    " applied_at timestamptz NOT NULL DEFAULT now())", err))
		goto unlock;

	sums = calloc(mt_migrations_count + 1, sizeof(*sums));
	if (!sums) {
		mt_err_set(err, MT_EINTERNAL, "out of memory");
		goto unlock;
	}
	for (size_t i = 0; i < mt_migrations_count; i++)
		mt_sha256_hex(sums[i], mt_migrations[i].sql, mt_migrations[i].len);

	r = PQexec(c, "SELECT version, sha256 FROM schema_migrations ORDER BY version");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		db_err_from_result(r, c, err);
		goto unlock;
	}
	for (int i = 0; i < PQntuples(r); i++) {
		long v = strtol(PQgetvalue(r, i, 0), NULL, 10);

		if (v < 1 || (size_t)v > mt_migrations_count) {
			mt_err_set(err, MT_EINTERNAL,
				   "the database schema (migration %ld) is newer than this mltrackd "
				   "(knows %zu): upgrade mltrackd", v, mt_migrations_count);
			goto unlock;
		}
		if (strcmp(PQgetvalue(r, i, 1), sums[v - 1]) != 0) {
			mt_err_set(err, MT_EINTERNAL,
				   "migration %s was changed after it was applied (checksum %.12s "
				   "recorded, %.12s embedded)", mt_migrations[v - 1].name,
				   PQgetvalue(r, i, 1), sums[v - 1]);
			goto unlock;
		}
		applied = (int)v;
	}
	if (PQntuples(r) != applied) {
		mt_err_set(err, MT_EINTERNAL, "schema_migrations has gaps: refusing to migrate");
		goto unlock;
	}
	for (size_t i = (size_t)applied; i < mt_migrations_count; i++)
		if (apply_one(c, &mt_migrations[i], sums[i], err))
			goto unlock;
	rc = 0;
unlock:
	PQclear(PQexec(c, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")"));
done:
	PQclear(r);
	free(sums);
	PQfinish(c);
	return rc;
}
