/* check_spool.c: the spool's journal and state format (lib/mt_spool). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mt_check.h"
#include "mt_spool.h"

static char dir[] = "/tmp/mt-spool-XXXXXX";

static void setup(void)
{
	strcpy(dir, "/tmp/mt-spool-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Collects the records' "t" and end offsets. */
struct seen {
	char types[16][16];
	size_t ends[16];
	int n, stop_at;
};

static int collect(void *arg, json_t *rec, size_t end)
{
	struct seen *s = arg;

	ck_assert_int_lt(s->n, 16);
	snprintf(s->types[s->n], sizeof(s->types[0]), "%s",
		 json_string_value(json_object_get(rec, "t")));
	s->ends[s->n++] = end;
	return s->stop_at && s->n == s->stop_at ? 7 : 0;
}

/* The journal file's bytes (malloc'd). */
static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	char *buf = malloc(1 << 20);

	ck_assert_ptr_nonnull(f);
	*n = fread(buf, 1, 1 << 20, f);
	fclose(f);
	return buf;
}

static int journal(void)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/journal", dir);
	fd = open(path, O_RDWR | O_CREAT | O_APPEND, 0600);
	ck_assert_int_ge(fd, 0);
	return fd;
}

static void append(int fd, const char *json)
{
	json_t *j = json_loads(json, 0, NULL);

	ck_assert_ptr_nonnull(j);
	ck_assert_int_eq(mt_spool_append(fd, j), 0);
	json_decref(j);
}

START_TEST(records_round_trip)
{
	int fd = journal();
	struct seen s = { 0 };
	struct mt_err err = { 0 };
	char path[128], *buf;
	size_t n, consumed;

	append(fd, "{\"t\":\"run\",\"spool_id\":\"x\"}");
	append(fd, "{\"t\":\"batch\",\"metrics\":[{\"key\":\"loss\",\"value\":\"NaN\"}]}");
	append(fd, "{\"t\":\"end\",\"status\":\"FINISHED\"}");
	close(fd);
	snprintf(path, sizeof(path), "%s/journal", dir);
	buf = slurp(path, &n);
	ck_assert_int_eq(mt_spool_parse(buf, n, &consumed, collect, &s, &err), 0);
	ck_assert_int_eq(s.n, 3);
	ck_assert_str_eq(s.types[0], "run");
	ck_assert_str_eq(s.types[1], "batch");
	ck_assert_str_eq(s.types[2], "end");
	ck_assert_uint_eq(consumed, n);
	ck_assert_uint_eq(s.ends[2], n);
	ck_assert_int_eq(buf[s.ends[0] - 1], '\n');
	/* Resuming from a record's end gives the rest. */
	{
		size_t from = s.ends[0];

		memset(&s, 0, sizeof(s));
		ck_assert_int_eq(mt_spool_parse(buf + from, n - from, &consumed, collect, &s, &err),
				 0);
		ck_assert_int_eq(s.n, 2);
		ck_assert_str_eq(s.types[0], "batch");
		ck_assert_uint_eq(consumed, n - from);
	}
	free(buf);
}
END_TEST

START_TEST(truncated_last_record_is_not_a_record)
{
	const char text[] = "{\"t\":\"run\"}\n{\"t\":\"batch\",\"metr";
	struct seen s = { 0 };
	struct mt_err err = { 0 };
	size_t consumed;

	ck_assert_int_eq(mt_spool_parse(text, sizeof(text) - 1, &consumed, collect, &s, &err), 0);
	ck_assert_int_eq(s.n, 1);
	ck_assert_uint_eq(consumed, 12);
	/* Once the writer finishes the line, the record is read from there. */
	{
		const char rest[] = "{\"t\":\"batch\",\"metrics\":[]}\n";

		memset(&s, 0, sizeof(s));
		ck_assert_int_eq(mt_spool_parse(rest, sizeof(rest) - 1, &consumed, collect, &s, &err),
				 0);
		ck_assert_int_eq(s.n, 1);
		ck_assert_str_eq(s.types[0], "batch");
	}
}
END_TEST

START_TEST(damaged_line_is_reported_with_its_offset)
{
	const char *bad[] = {
		"{\"t\":\"run\"}\n{\"t\":\"ba\n{\"t\":\"end\"}\n", /* cut, then more */
		"{\"t\":\"run\"}\n[1,2]\n",                       /* not an object */
		"{\"t\":\"run\"}\n{\"x\":1}\n",                   /* no type */
		"{\"t\":\"run\"}\n{\"t\":1}\n",                   /* type not a string */
		"{\"t\":\"run\"}\n\n",                            /* empty line */
		"{\"t\":\"run\"}\n{\"t\":\"a\",\"t\":\"b\"}\n",   /* duplicate key */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct seen s = { 0 };
		struct mt_err err = { 0 };
		size_t consumed = 99;

		ck_assert_int_eq(mt_spool_parse(bad[i], strlen(bad[i]), &consumed, collect, &s, &err),
				 -1);
		ck_assert_int_eq(s.n, 1);
		ck_assert_uint_eq(consumed, 12);
		ck_assert_int_eq(err.code, MT_EINVAL);
		ck_assert_ptr_nonnull(strstr(err.msg, "offset 12"));
	}
}
END_TEST

START_TEST(callback_can_stop_the_parse)
{
	const char text[] = "{\"t\":\"a\"}\n{\"t\":\"b\"}\n{\"t\":\"c\"}\n";
	struct seen s = { .stop_at = 2 };
	struct mt_err err = { 0 };
	size_t consumed;

	ck_assert_int_eq(mt_spool_parse(text, sizeof(text) - 1, &consumed, collect, &s, &err), 7);
	ck_assert_int_eq(s.n, 2);
	/* The stopping record is not consumed: it is handed out again. */
	ck_assert_uint_eq(consumed, 10);
}
END_TEST

START_TEST(overlong_unterminated_line_is_damage)
{
	size_t n = MT_SPOOL_MAX_RECORD + 10;
	char *buf = malloc(n);
	struct seen s = { 0 };
	struct mt_err err = { 0 };
	size_t consumed;

	memset(buf, 'x', n);
	ck_assert_int_eq(mt_spool_parse(buf, n, &consumed, collect, &s, &err), -1);
	ck_assert_int_eq(s.n, 0);
	free(buf);
}
END_TEST

START_TEST(oversized_record_is_refused_on_append)
{
	int fd = journal();
	json_t *j = json_pack("{s:s, s:s}", "t", "batch", "pad", "");
	char *big = malloc(MT_SPOOL_MAX_RECORD + 1);
	struct stat st;

	memset(big, 'a', MT_SPOOL_MAX_RECORD);
	big[MT_SPOOL_MAX_RECORD] = 0;
	json_object_set_new(j, "pad", json_string(big));
	ck_assert_int_eq(mt_spool_append(fd, j), -1);
	ck_assert_int_eq(errno, EFBIG);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_size, 0); /* nothing half-written */
	close(fd);
	json_decref(j);
	free(big);
}
END_TEST

START_TEST(state_round_trip)
{
	struct mt_spool_state st, back;
	struct mt_err err = { 0 };
	char path[128];

	ck_assert_int_eq(mt_spool_state_read(dir, &back, &err), 0);
	ck_assert_str_eq(back.run_id, "");
	ck_assert_int_eq(back.acked, 0);
	memset(&st, 0, sizeof(st));
	strcpy(st.run_id, "0123456789abcdef0123456789abcdef");
	st.acked = 123456789012LL;
	ck_assert_int_eq(mt_spool_state_write(dir, &st, &err), 0);
	ck_assert_int_eq(mt_spool_state_read(dir, &back, &err), 0);
	ck_assert_str_eq(back.run_id, st.run_id);
	ck_assert_int_eq(back.acked, st.acked);
	snprintf(path, sizeof(path), "%s/state.tmp", dir);
	ck_assert_int_ne(access(path, F_OK), 0);
	/* A quote in an id cannot break the file. */
	strcpy(st.run_id, "a\"b");
	ck_assert_int_eq(mt_spool_state_write(dir, &st, &err), 0);
	ck_assert_int_eq(mt_spool_state_read(dir, &back, &err), 0);
	ck_assert_str_eq(back.run_id, "a\"b");
}
END_TEST

START_TEST(damaged_state_reads_as_the_start)
{
	const char *bad[] = { "", "{", "{\"run_id\":\"x\"}", "{\"run_id\":1,\"acked\":0}",
			      "{\"run_id\":\"x\",\"acked\":-1}", "{\"run_id\":\"x\",\"acked\":\"3\"}" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct mt_spool_state st;
		struct mt_err err = { 0 };
		char path[128];
		FILE *f;

		snprintf(path, sizeof(path), "%s/state", dir);
		f = fopen(path, "w");
		fputs(bad[i], f);
		fclose(f);
		memset(&st, 0x55, sizeof(st));
		ck_assert_int_eq(mt_spool_state_read(dir, &st, &err), 1);
		ck_assert_int_eq(err.code, MT_EINVAL);
		ck_assert_ptr_nonnull(strstr(err.msg, "starting over"));
		ck_assert_str_eq(st.run_id, "");
		ck_assert_int_eq(st.acked, 0);
	}
}
END_TEST

Suite *make_spool_suite(void)
{
	Suite *s = suite_create("spool");
	TCase *tc = tcase_create("format");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, records_round_trip);
	tcase_add_test(tc, truncated_last_record_is_not_a_record);
	tcase_add_test(tc, damaged_line_is_reported_with_its_offset);
	tcase_add_test(tc, callback_can_stop_the_parse);
	tcase_add_test(tc, overlong_unterminated_line_is_damage);
	tcase_add_test(tc, oversized_record_is_refused_on_append);
	tcase_add_test(tc, state_round_trip);
	tcase_add_test(tc, damaged_state_reads_as_the_start);
	suite_add_tcase(s, tc);
	return s;
}
