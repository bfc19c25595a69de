/*
 * check_filter: the search grammar (lib/mt_filter).
 *
 * Data-driven: each table row is a filter or order_by input with either the
 * expected parse, rendered as text by render_filter()/render_order(), or a
 * substring of the expected error message.  Rows are walked by
 * tcase_add_loop_test, so a failure names the row index (_i).
 */
#include "mt_check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_filter.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define TIMEOUT 10

#define R MT_FE_RUNS
#define E MT_FE_EXPERIMENTS
#define M MT_FE_MODELS
#define V MT_FE_VERSIONS
#define L MT_FE_LOGGED_MODELS

/* ------------------------------------------------------------------------
 * Rendering: "<kind>:<key> <OP> <value>" joined by " ; ".  Strings as 'raw'
 * (no escaping), integers as %lld, other numbers shortest round-trip,
 * lists as ('a', 'b').
 */

static void cat(char *buf, size_t size, const char *s)
{
	size_t used = strlen(buf);

	if (used < size)
		snprintf(buf + used, size - used, "%s", s);
}

static void render_num(char *out, size_t size, double d)
{
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(out, size, "%.*g", prec, d);
		if (strtod(out, NULL) == d)
			return;
	}
}

static void render_filter(char *buf, size_t size, const struct mt_filter *f)
{
	char tmp[128];

	buf[0] = '\0';
	for (size_t i = 0; i < f->n; i++) {
		const struct mt_filter_clause *c = &f->clauses[i];

		if (i)
			cat(buf, size, " ; ");
		cat(buf, size, mt_filter_kind_name(c->kind));
		cat(buf, size, ":");
		cat(buf, size, c->key);
		cat(buf, size, " ");
		cat(buf, size, mt_filter_op_name(c->op));
		cat(buf, size, " ");
		if (c->is_num) {
			if (c->is_int)
				snprintf(tmp, sizeof(tmp), "%lld", c->inum);
			else
				render_num(tmp, sizeof(tmp), c->num);
			cat(buf, size, tmp);
		} else if (c->str) {
			cat(buf, size, "'");
			cat(buf, size, c->str);
			cat(buf, size, "'");
		} else {
			cat(buf, size, "(");
			for (size_t j = 0; j < c->nlist; j++) {
				if (j)
					cat(buf, size, ", ");
				cat(buf, size, "'");
				cat(buf, size, c->list[j]);
				cat(buf, size, "'");
			}
			cat(buf, size, ")");
		}
	}
}

static void render_order(char *buf, size_t size, const struct mt_order_list *o)
{
	buf[0] = '\0';
	for (size_t i = 0; i < o->n; i++) {
		if (i)
			cat(buf, size, " ; ");
		cat(buf, size, mt_filter_kind_name(o->items[i].kind));
		cat(buf, size, ":");
		cat(buf, size, o->items[i].key);
		cat(buf, size, o->items[i].asc ? " ASC" : " DESC");
	}
}

/* ------------------------------------------------------------------------
 * Valid filters.
 */

struct ok_case {
	enum mt_filter_entity ent;
	const char *text;
	const char *want;
};

static const struct ok_case ok_cases[] = {
	/* empty */
	{ R, "", "" },
	{ R, " \t\r\n ", "" },
	{ E, "   ", "" },
	/* metrics */
	{ R, "metrics.acc > 0.9", "metric:acc > 0.9" },
	{ R, "metric.acc>=1", "metric:acc >= 1" },
	{ R, "metrics.loss < -1.5e-3", "metric:loss < -0.0015" },
	{ R, "metrics.loss <= .5", "metric:loss <= 0.5" },
	{ R, "metrics.loss != 1E+3", "metric:loss != 1000" },
	{ R, "metrics.loss = +7", "metric:loss = 7" },
	{ R, "metrics.x = 2.", "metric:x = 2" },
	{ R, "metrics.x = 9223372036854775807", "metric:x = 9223372036854775807" },
	{ R, "metrics.x = 99999999999999999999", "metric:x = 1e+20" },
	{ R, "metrics.`val loss` < 1", "metric:val loss < 1" },
	{ R, "metrics.\"val-loss\" < 1", "metric:val-loss < 1" },
	{ R, "`metrics`.`a.b` = 1", "metric:a.b = 1" },
	{ R, "`metrics`.acc = 1", "metric:acc = 1" },
	{ R, "metrics.a.b.c = 1", "metric:a.b.c = 1" },
	{ R, "metrics.`we``ird` = 1", "metric:we`ird = 1" },
	{ R, "metrics.\u00e9t\u00e9 = 1", "metric:\u00e9t\u00e9 = 1" },
	/* params and tags */
	{ R, "params.lr = '0.1'", "param:lr = '0.1'" },
	{ R, "param.lr != \"0.1\"", "param:lr != '0.1'" },
	{ R, "parameter.opt LIKE 'ad%'", "param:opt LIKE 'ad%'" },
	{ R, "parameters.opt ilike '%AM'", "param:opt ILIKE '%AM'" },
	{ R, "tags.`mlflow.user` = 'alice'", "tag:mlflow.user = 'alice'" },
	{ R, "tags.mlflow.source.type = 'LOCAL'", "tag:mlflow.source.type = 'LOCAL'" },
	{ R, "tag.\"my tag\" Like 'x_'", "tag:my tag LIKE 'x_'" },
	{ R, "tags.t = ''", "tag:t = ''" },
	{ R, "tags.t = 'it''s'", "tag:t = 'it's'" },
	{ R, "tags.t = 'it\\'s'", "tag:t = 'it's'" },
	{ R, "tags.t = \"say \"\"hi\"\"\"", "tag:t = 'say \"hi\"'" },
	{ R, "tags.t = \"a'b\"", "tag:t = 'a'b'" },
	{ R, "tags.t LIKE '50\\%'", "tag:t LIKE '50\\%'" },
	{ R, "tags.t = 'a\\\\'", "tag:t = 'a\\'" },
	{ R, "tags.t = 'C:\\dir'", "tag:t = 'C:\\dir'" },
	{ R, "tags.t LIKE 'a\\\\%'", "tag:t LIKE 'a\\%'" },
	{ R, "tags.t = \"a\\\"b\"", "tag:t = 'a\"b'" },
	{ R, "tags.`k\\`` = 'v'", "tag:k` = 'v'" },
	{ R, "tags.`k\\\\` = 'v'", "tag:k\\ = 'v'" },
	{ R, "tags.t = 'AND OR NOT ( ) ,'", "tag:t = 'AND OR NOT ( ) ,'" },
	{ R, "tags.t = 'tab\there'", "tag:t = 'tab\there'" },
	{ R, "tags.t = '\u65e5\u672c'", "tag:t = '\u65e5\u672c'" },
	{ R, "tags.or = 'x' and tags.not = 'y'", "tag:or = 'x' ; tag:not = 'y'" },
	{ R, "params.IN = 'x'", "param:IN = 'x'" },
	/* attributes */
	{ R, "status = 'RUNNING'", "attribute:status = 'RUNNING'" },
	{ R, "attributes.status != 'FAILED'", "attribute:status != 'FAILED'" },
	{ R, "attribute.user_id LIKE 'a%'", "attribute:user_id LIKE 'a%'" },
	{ R, "attr.artifact_uri ILIKE 's3://%'", "attribute:artifact_uri ILIKE 's3://%'" },
	{ R, "run.run_name = 'r'", "attribute:run_name = 'r'" },
	{ R, "attributes.run_name = 'r'", "attribute:run_name = 'r'" },
	{ R, "`run name` = 'r'", "attribute:run_name = 'r'" },
	{ R, "\"Run name\" = 'r'", "attribute:run_name = 'r'" },
	{ R, "attributes.`Run Name` = 'r'", "attribute:run_name = 'r'" },
	{ R, "start_time > 1700000000000", "attribute:start_time > 1700000000000" },
	{ R, "end_time <= 1.5", "attribute:end_time <= 1.5" },
	{ R, "created >= 5", "attribute:start_time >= 5" },
	{ R, "Created < 5", "attribute:start_time < 5" },
	{ R, "attributes.created = 1e3", "attribute:start_time = 1000" },
	{ R, "run_id = 'abc'", "attribute:run_id = 'abc'" },
	{ R, "attributes.run_id IN ('a1', 'b2')", "attribute:run_id IN ('a1', 'b2')" },
	{ R, "run_id in ('a', \"b\",)", "attribute:run_id IN ('a', 'b')" },
	{ R, "run_id IN('a')", "attribute:run_id IN ('a')" },
	{ R, "run_id NOT IN ('a')", "attribute:run_id NOT IN ('a')" },
	{ R, "run_id not\n in ( 'a' , 'b' )", "attribute:run_id NOT IN ('a', 'b')" },
	{ R, "run_id IN ('abc', 'ABC', 'aBc', 'x-1')", "attribute:run_id IN ('abc', 'x-1')" },
	{ R, "run_id IN ('ABC')", "attribute:run_id IN ()" },
	/* datasets */
	{ R, "datasets.name = 'mnist'", "dataset:name = 'mnist'" },
	{ R, "dataset.digest IN ('AB12', 'cd')", "dataset:digest IN ('AB12', 'cd')" },
	{ R, "datasets.context NOT IN ('train')", "dataset:context NOT IN ('train')" },
	{ R, "datasets.context ILIKE 'TR%'", "dataset:context ILIKE 'TR%'" },
	/* AND, case and spacing */
	{ R, "metrics.a > 1 AND params.b = 'x'", "metric:a > 1 ; param:b = 'x'" },
	{ R, "metrics.a>1 and params.b='x' AnD tags.c!='y'",
	  "metric:a > 1 ; param:b = 'x' ; tag:c != 'y'" },
	{ R, "\n\tmetrics.a\n>\n1\nAND\nstatus='x'\n", "metric:a > 1 ; attribute:status = 'x'" },
	{ R, "params.b='x'AND metrics.a=1", "param:b = 'x' ; metric:a = 1" },
	{ R, "metrics.a = 1 and metrics.a = 2", "metric:a = 1 ; metric:a = 2" },
	/* experiments */
	{ E, "name = 'Default'", "attribute:name = 'Default'" },
	{ E, "attribute.name LIKE 'exp%'", "attribute:name LIKE 'exp%'" },
	{ E, "name ILIKE '%X%'", "attribute:name ILIKE '%X%'" },
	{ E, "creation_time > 100 and last_update_time <= 200",
	  "attribute:creation_time > 100 ; attribute:last_update_time <= 200" },
	{ E, "tags.team = 'ml' and tag.`a b` != 'c'", "tag:team = 'ml' ; tag:a b != 'c'" },
	/* registered models */
	{ M, "name = 'm'", "attribute:name = 'm'" },
	{ M, "name LIKE 'm%' and tags.stage = 'prod'",
	  "attribute:name LIKE 'm%' ; tag:stage = 'prod'" },
	{ M, "attribute.name != 'x'", "attribute:name != 'x'" },
	/* model versions */
	{ V, "name = 'm' and version_number > 2",
	  "attribute:name = 'm' ; attribute:version_number > 2" },
	{ V, "run_id = 'abc'", "attribute:run_id = 'abc'" },
	{ V, "run_id IN ('abc', 'DEF')", "attribute:run_id IN ('abc')" },
	{ V, "source_path LIKE 's3://%'", "attribute:source_path LIKE 's3://%'" },
	{ V, "tags.k = 'v'", "tag:k = 'v'" },
	{ V, "version_number = 1.0", "attribute:version_number = 1" },
	/* MLflow 3's logged models. */
	{ L, "name = 'model'", "attribute:name = 'model'" },
	{ L, "attributes.model_type = 'x' and status IN ('READY', 'PENDING')",
	  "attribute:model_type = 'x' ; attribute:status IN ('READY', 'PENDING')" },
	{ L, "source_run_id NOT IN ('abc')", "attribute:source_run_id NOT IN ('abc')" },
	{ L, "creation_time >= 5 AND last_updated_timestamp_ms < 9",
	  "attribute:creation_timestamp >= 5 ; attribute:last_updated_timestamp < 9" },
	{ L, "metrics.acc > 0.5 and params.lr LIKE '0.%' and tags.`a b` != 'x'",
	  "metric:acc > 0.5 ; param:lr LIKE '0.%' ; tag:a b != 'x'" },
};

static void check_ok(const struct ok_case *tc)
{
	struct mt_filter f;
	struct mt_err err = MT_ERR_INIT;
	char got[2048];
	int rc;

	rc = mt_filter_parse(&f, tc->ent, tc->text, &err);
	ck_assert_msg(rc == 0, "filter \"%s\": unexpected error: %s", tc->text, err.msg);
	render_filter(got, sizeof(got), &f);
	ck_assert_msg(strcmp(got, tc->want) == 0, "filter \"%s\":\n got  %s\n want %s",
		      tc->text, got, tc->want);
	mt_filter_release(&f);
	ck_assert_ptr_null(f.clauses);
	ck_assert_uint_eq(f.n, 0);
}

START_TEST(filter_ok)
{
	check_ok(&ok_cases[_i]);
}
END_TEST

/* ------------------------------------------------------------------------
 * Rejected filters.
 */

struct bad_case {
	enum mt_filter_entity ent;
	const char *text;
	const char *want;  /* substring of the message */
};

static const struct bad_case bad_cases[] = {
	/* connectives and grouping */
	{ R, "metrics.a > 1 OR metrics.b < 2", "Invalid clause(s) in filter string: 'OR'" },
	{ R, "a = 1 or b = 2", "Invalid clause(s) in filter string: 'or'" },
	{ R, "NOT metrics.a > 1", "Invalid clause(s) in filter string: 'NOT'" },
	{ R, "tags.a NOT LIKE 'x'", "Invalid clause(s) in filter string: 'NOT'" },
	{ R, "(metrics.a > 1)", "Invalid clause(s) in filter string: '('" },
	{ R, "metrics.a > 1 AND (metrics.b < 2)", "Invalid clause(s) in filter string: '('" },
	{ R, "metrics.a > 1 metrics.b < 2", "Invalid clause(s) in filter string: 'metrics.b'" },
	{ R, "metrics.a > 1 AND metrics.b < 2 x", "Invalid clause(s) in filter string: 'x'" },
	{ R, "metrics.a > 1 AND", "'AND' ends the filter" },
	{ R, "AND metrics.a > 1", "Invalid clause(s) in filter string: 'AND'" },
	{ R, "metrics.a > 1 AND AND metrics.b > 1", "Invalid clause(s) in filter string: 'AND'" },
	{ R, "metrics.a > 1;", "Expected numeric value type for metric 'a'. Found '1;'" },
	{ R, "metrics.a > 1 ;", "Invalid clause(s) in filter string: ';'" },
	{ R, "metrics.a > 1 ANDmetrics.b > 1", "Invalid clause(s) in filter string: 'ANDmetrics.b'" },
	{ R, "'x' = metrics.a", "Invalid clause(s) in filter string: ''x''" },
	{ R, "= 1", "Invalid clause(s) in filter string: '='" },
	{ R, ",", "Invalid clause(s) in filter string: ','" },
	/* identifiers */
	{ R, "foo = 'x'", "Invalid attribute key 'foo' specified. Valid keys are" },
	{ R, "attributes.foo = 'x'", "Invalid attribute key 'foo'" },
	{ R, "Status = 'x'", "Invalid attribute key 'Status'" },
	{ R, "run name = 'x'", "Invalid attribute key 'run'" },
	{ R, "metricz.a = 1", "Invalid entity type 'metricz'. Valid values are 'metric'" },
	{ R, "Metrics.a = 1", "Invalid entity type 'Metrics'" },
	{ R, ".a = 1", "Invalid entity type ''" },
	{ R, "`tags.a` = 'x'", "Invalid attribute key 'tags.a'" },
	{ R, "\"tags.a\" = 'x'", "Invalid attribute key 'tags.a'" },
	{ R, "tags. = 'x'", "the tag key is empty" },
	{ R, "tags.`` = 'x'", "the tag key is empty" },
	{ R, "metrics.\"\" = 1", "the metric key is empty" },
	{ R, "tags.my-tag = 'x'", "Invalid identifier 'tags.my-tag'" },
	{ R, "tags.'my tag' = 'x'", "not single quotes" },
	{ R, "`tags`.'k' = 'x'", "not single quotes" },
	{ R, "tags.a/b = 'x'", "Invalid identifier 'tags.a/b'" },
	{ R, "tags.a:b = 'x'", "Invalid identifier" },
	{ R, "tags.`a = 'x'", "unterminated quoted string" },
	{ R, "datasets.foo = 'x'", "Invalid dataset key 'foo' specified" },
	{ R, "datasets.Name = 'x'", "Invalid dataset key 'Name'" },
	/* comparators */
	{ R, "metrics.a", "expected a comparator" },
	{ R, "metrics.a == 1", "Invalid comparator '=='" },
	{ R, "metrics.a <> 1", "Invalid comparator '<>'" },
	{ R, "metrics.a => 1", "Invalid comparator '=>'" },
	{ R, "metrics.a ! 1", "Invalid comparator '!'" },
	{ R, "metrics.a IS 1", "Invalid comparator 'IS'" },
	{ R, "run_id NOT ('a')", "Invalid clause(s) in filter string: 'NOT'" },
	{ R, "metrics.a LIKE 1", "Invalid comparator 'LIKE' for metric 'a'" },
	{ R, "metrics.a IN ('1')", "Expected numeric value type for metric 'a'. Found ('1')" },
	{ R, "metrics.a IN (1)", "ill-formed list" },
	{ R, "params.p > 'a'", "Invalid comparator '>' for param 'p'" },
	{ R, "tags.t <= 'a'", "Invalid comparator '<=' for tag 't'" },
	{ R, "tags.t IN ('a')", "Invalid comparator 'IN' for tag 't'" },
	{ R, "tags.t = ('a')", "Expected a quoted string value for tag 't'" },
	{ R, "status > 'a'", "Invalid comparator '>' for attribute 'status'" },
	{ R, "start_time LIKE 1", "Invalid comparator 'LIKE' for attribute 'start_time'" },
	{ R, "datasets.name > 'a'", "Invalid comparator '>' for dataset 'name'" },
	/* values */
	{ R, "metrics.a >", "expected a value" },
	{ R, "metrics.acc = 'x'", "Expected numeric value type for metric 'acc'. Found 'x'" },
	{ R, "metrics.acc = \"1\"", "Expected numeric value type for metric 'acc'" },
	{ R, "metrics.acc = abc", "Expected numeric value type for metric 'acc'. Found 'abc'" },
	{ R, "metrics.acc = 1.2.3", "Expected numeric value type for metric 'acc'" },
	{ R, "metrics.acc = 0x10", "Expected numeric value type" },
	{ R, "metrics.acc = inf", "Expected numeric value type" },
	{ R, "metrics.acc = nan", "Expected numeric value type" },
	{ R, "metrics.acc = 1e", "Expected numeric value type" },
	{ R, "metrics.acc = -", "Expected numeric value type" },
	{ R, "metrics.acc = - 1", "Expected numeric value type" },
	{ R, "metrics.acc = 1e999", "Numeric value '1e999' is out of range" },
	{ R, "metrics.acc = -1e400", "out of range" },
	{ R, "metrics.acc = 1abc", "Found '1abc'" },
	{ R, "params.lr = 0.1", "Expected a quoted string value for param 'lr'" },
	{ R, "params.lr = adam", "Expected a quoted string value for param 'lr'" },
	{ R, "params.lr = `adam`", "Expected a quoted string value for param 'lr'" },
	{ R, "tags.t = 'x", "unterminated quoted string" },
	{ R, "tags.t = 'x\\'", "unterminated quoted string" },
	{ R, "tags.t = \"x'", "unterminated quoted string" },
	{ R, "tags.t = 'a' 'b'", "Invalid clause(s) in filter string: ''b''" },
	{ R, "tags.t = )", "Expected a quoted string value for tag 't'" },
	{ R, "start_time = 'x'", "Expected numeric value type for attribute 'start_time'" },
	{ R, "created > '2024'", "Expected numeric value type for attribute 'start_time'" },
	{ R, "status = RUNNING", "Expected a quoted string value for attribute 'status'" },
	/* IN lists */
	{ R, "status IN ('a')", "Only the 'run_id' attribute supports comparison with a list" },
	{ R, "status NOT IN ('a')", "Only the 'run_id' attribute supports" },
	{ R, "status = ('a')", "Only the 'run_id' attribute supports" },
	{ R, "run_id = ('a')", "Invalid comparator '=' for a list of values" },
	{ R, "run_id IN 'a'", "Expected a list of quoted string values in parentheses" },
	{ R, "run_id IN ()", "expected a non-empty list of string values" },
	{ R, "run_id IN ('a',)x", "Invalid clause(s) in filter string: 'x'" },
	{ R, "run_id IN ('a' 'b')", "ill-formed list" },
	{ R, "run_id IN ('a',,'b')", "ill-formed list" },
	{ R, "run_id IN (,)", "ill-formed list" },
	{ R, "run_id IN (1, 2)", "ill-formed list" },
	{ R, "run_id IN (a)", "ill-formed list" },
	{ R, "run_id IN ('a'", "ill-formed list" },
	{ R, "run_id IN (('a'))", "ill-formed list" },
	{ R, "run_id IN ('a", "unterminated quoted string" },
	/* text */
	{ R, "tags.t = 'a\x01'", "control character 0x01 at byte 11" },
	{ R, "tags.t = 'a\x7f'", "control character 0x7f" },
	{ R, "tags.t = '\xff'", "invalid UTF-8 at byte 10" },
	{ R, "tags.t = '\xc3'", "invalid UTF-8" },
	{ R, "tags.t = '\xc0\xaf'", "invalid UTF-8" },          /* overlong */
	{ R, "tags.t = '\xed\xa0\x80'", "invalid UTF-8" },      /* surrogate */
	{ R, "tags.t = '\xf4\x90\x80\x80'", "invalid UTF-8" },  /* > U+10FFFF */
	{ R, "tags.t = '\xe6\x97'", "invalid UTF-8" },          /* truncated */
	/* experiments */
	{ E, "metrics.a > 1", "Invalid entity type 'metrics'. Valid values are 'attribute', 'tag', 'tags'" },
	{ E, "attributes.name = 'x'", "Invalid entity type 'attributes'" },
	{ E, "experiment_id = '1'", "Invalid attribute key 'experiment_id'" },
	{ E, "name > 'a'", "Invalid comparator '>' for attribute 'name'" },
	{ E, "name IN ('a')", "Invalid comparator 'IN' for attribute 'name'" },
	{ E, "creation_time = 'x'", "Expected numeric value type for attribute 'creation_time'" },
	{ E, "last_update_time LIKE 1", "Invalid comparator 'LIKE'" },
	{ E, "tags.t = 1", "Expected a quoted string value for tag 't'" },
	{ E, "name = 'a' OR name = 'b'", "Invalid clause(s) in filter string: 'OR'" },
	/* models */
	{ M, "run_id = 'a'", "Invalid attribute key 'run_id'" },
	{ M, "params.a = 'x'", "Invalid entity type 'params'" },
	{ M, "name IN ('a')", "Invalid comparator 'IN' for attribute 'name'" },
	{ M, "name = 1", "Expected a quoted string value for attribute 'name'" },
	/* versions */
	{ V, "name IN ('a')", "Only the 'run_id' attribute supports" },
	{ V, "run_id NOT IN ('a')", "Invalid comparator 'NOT IN' for attribute 'run_id'" },
	{ V, "version_number = '1'", "Expected numeric value type for attribute 'version_number'" },
	{ V, "version_number LIKE 1", "Invalid comparator 'LIKE'" },
	{ V, "source = 'x'", "Invalid attribute key 'source'" },
	{ L, "metric.acc > 1", "Invalid entity type 'metric'" },
	{ L, "run_id = 'a'", "Invalid attribute key 'run_id'" },
	{ L, "metrics.acc = 'x'", "Expected numeric value type for metric 'acc'" },
	{ L, "params.lr IN ('a')", "Invalid comparator 'IN' for param 'lr'" },
	{ L, "creation_timestamp LIKE 1", "Invalid comparator 'LIKE'" },
	{ L, "name > 'a'", "Invalid comparator '>' for attribute 'name'" },
	{ V, "metrics.a = 1", "Invalid entity type 'metrics'" },
	{ V, "datasets.name = 'a'", "Invalid entity type 'datasets'" },
};

static void check_bad(const struct bad_case *tc)
{
	struct mt_filter f = { (struct mt_filter_clause *)&f, 99, (struct mt_filter_node *)&f };  /* garbage in */
	struct mt_err err = MT_ERR_INIT;
	int rc;

	rc = mt_filter_parse(&f, tc->ent, tc->text, &err);
	ck_assert_msg(rc == -1, "filter \"%s\": accepted", tc->text);
	ck_assert_int_eq(err.code, MT_EINVAL);
	ck_assert_msg(strstr(err.msg, tc->want) != NULL, "filter \"%s\":\n got  %s\n want ...%s...",
		      tc->text, err.msg, tc->want);
	ck_assert_msg(strchr(err.msg, '\n') == NULL, "message is not one line");
	/* Nothing is left behind: an empty filter that release accepts. */
	ck_assert_ptr_null(f.clauses);
	ck_assert_ptr_null(f.tree);
	ck_assert_uint_eq(f.n, 0);
	mt_filter_release(&f);
}

START_TEST(filter_bad)
{
	check_bad(&bad_cases[_i]);
}
END_TEST

/* ------------------------------------------------------------------------
 * order_by.
 */

struct order_case {
	enum mt_filter_entity ent;
	const char *clauses[4];  /* NULL-terminated unless the row says otherwise */
	const char *want;        /* rendering, or NULL when err is set */
	const char *err;
};

static const struct order_case order_cases[] = {
	{ R, { NULL }, "", NULL },
	{ R, { "start_time" }, "attribute:start_time ASC", NULL },
	{ R, { "start_time DESC" }, "attribute:start_time DESC", NULL },
	{ R, { "  end_time   asc  " }, "attribute:end_time ASC", NULL },
	{ R, { "attributes.run_name desc" }, "attribute:run_name DESC", NULL },
	{ R, { "created DESC" }, "attribute:start_time DESC", NULL },
	{ R, { "Created" }, "attribute:start_time ASC", NULL },
	{ R, { "metrics.`val loss` DESC", "params.lr", "tags.\"a b\" Desc" },
	  "metric:val loss DESC ; param:lr ASC ; tag:a b DESC", NULL },
	{ R, { "metrics.acc DESC", "params.acc", "tags.acc" },
	  "metric:acc DESC ; param:acc ASC ; tag:acc ASC", NULL },
	{ R, { "run_id", "status", "user_id", "artifact_uri" },
	  "attribute:run_id ASC ; attribute:status ASC ; attribute:user_id ASC ; "
	  "attribute:artifact_uri ASC", NULL },
	{ R, { "`metrics`.acc" }, "metric:acc ASC", NULL },
	{ R, { "metrics.a.b DESC" }, "metric:a.b DESC", NULL },
	{ E, { "name", "experiment_id DESC" }, "attribute:name ASC ; attribute:experiment_id DESC", NULL },
	{ E, { "attribute.creation_time desc", "last_update_time" },
	  "attribute:creation_time DESC ; attribute:last_update_time ASC", NULL },
	{ M, { "name DESC" }, "attribute:name DESC", NULL },
	{ M, { "timestamp DESC" }, "attribute:last_updated_timestamp DESC", NULL },
	{ M, { "last_updated_timestamp" }, "attribute:last_updated_timestamp ASC", NULL },
	{ V, { "version_number DESC", "name", "creation_timestamp", "last_updated_timestamp desc" },
	  "attribute:version_number DESC ; attribute:name ASC ; attribute:creation_timestamp ASC ; "
	  "attribute:last_updated_timestamp DESC", NULL },

	{ R, { "" }, NULL, "Invalid order_by clause ''. Could not be parsed." },
	{ R, { "   " }, NULL, "Could not be parsed" },
	{ R, { "start_time foo" }, NULL, "Invalid ordering key 'foo' in order_by clause" },
	{ R, { "start_time ASC DESC" }, NULL, "Could not be parsed" },
	{ R, { "start_time DESC," }, NULL, "Could not be parsed" },
	{ R, { "start_time, end_time" }, NULL, "Could not be parsed" },
	{ R, { "start_time = 1" }, NULL, "Could not be parsed" },
	{ R, { "(start_time)" }, NULL, "Could not be parsed" },
	{ R, { "start_time", "start_time DESC" }, NULL,
	  "order_by contains duplicate fields: 'start_time' and 'start_time DESC'" },
	{ R, { "start_time", "created" }, NULL, "duplicate fields" },
	{ R, { "metrics.a", "metric.a DESC" }, NULL, "duplicate fields" },
	{ R, { "foo" }, NULL, "Invalid attribute key 'foo'" },
	{ R, { "run name" }, NULL, "Invalid attribute key 'run'" },
	{ R, { "`run name`" }, NULL, "Invalid attribute key 'run name'" },
	{ R, { "experiment_id" }, NULL, "Invalid attribute key 'experiment_id'" },
	{ R, { "datasets.name" }, NULL, "Invalid entity type 'datasets'" },
	{ R, { "metrics." }, NULL, "the metric key is empty" },
	{ R, { "tags.my-tag" }, NULL, "Invalid identifier" },
	{ R, { "tags.`x" }, NULL, "Invalid order_by clause: unterminated quoted string `x" },
	{ R, { "start_time\x01" }, NULL, "control character" },
	{ R, { "start_time \xfe" }, NULL, "invalid UTF-8" },
	{ E, { "tags.x" }, NULL, "Invalid entity type 'tags'" },
	{ E, { "creation_timestamp" }, NULL, "Invalid attribute key 'creation_timestamp'" },
	{ M, { "creation_timestamp" }, NULL, "Invalid attribute key 'creation_timestamp'" },
	{ M, { "timestamp", "last_updated_timestamp DESC" }, NULL, "duplicate fields" },
	{ M, { "tags.x" }, NULL, "Invalid entity type 'tags'" },
	{ V, { "version" }, NULL, "Invalid attribute key 'version'" },
	{ V, { "run_id" }, NULL, "Invalid attribute key 'run_id'" },
};

START_TEST(order_table)
{
	const struct order_case *tc = &order_cases[_i];
	struct mt_order_list o;
	struct mt_err err = MT_ERR_INIT;
	char got[1024];
	size_t n = 0;
	int rc;

	while (n < N_ELEMS(tc->clauses) && tc->clauses[n])
		n++;
	rc = mt_order_parse(&o, tc->ent, tc->clauses, n, &err);
	if (tc->want) {
		ck_assert_msg(rc == 0, "order_by #%d: unexpected error: %s", _i, err.msg);
		render_order(got, sizeof(got), &o);
		ck_assert_msg(strcmp(got, tc->want) == 0, "order_by #%d:\n got  %s\n want %s",
			      _i, got, tc->want);
	} else {
		ck_assert_msg(rc == -1, "order_by #%d (%s): accepted", _i, tc->clauses[0]);
		ck_assert_int_eq(err.code, MT_EINVAL);
		ck_assert_msg(strstr(err.msg, tc->err) != NULL,
			      "order_by #%d:\n got  %s\n want ...%s...", _i, err.msg, tc->err);
		ck_assert_ptr_null(o.items);
		ck_assert_uint_eq(o.n, 0);
	}
	mt_order_release(&o);
	ck_assert_ptr_null(o.items);
}
END_TEST

START_TEST(order_null_entry)
{
	const char *cl[] = { "start_time", NULL };
	struct mt_order_list o;
	struct mt_err err = MT_ERR_INIT;

	ck_assert_int_eq(mt_order_parse(&o, R, cl, 2, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "null"));
	ck_assert_ptr_null(o.items);
	ck_assert_int_eq(mt_order_parse(&o, R, NULL, 0, &err), 0);
	ck_assert_uint_eq(o.n, 0);
	mt_order_release(&o);
	mt_order_release(NULL);
}
END_TEST

START_TEST(order_limits)
{
	const char **cl = calloc(MT_ORDER_MAX_CLAUSES + 1, sizeof(*cl));
	char (*keys)[32] = calloc(MT_ORDER_MAX_CLAUSES + 1, sizeof(*keys));
	struct mt_order_list o;
	struct mt_err err = MT_ERR_INIT;

	ck_assert_ptr_nonnull(cl);
	ck_assert_ptr_nonnull(keys);
	for (int i = 0; i <= MT_ORDER_MAX_CLAUSES; i++) {
		snprintf(keys[i], sizeof(keys[i]), "metrics.m%d DESC", i);
		cl[i] = keys[i];
	}
	ck_assert_int_eq(mt_order_parse(&o, R, cl, MT_ORDER_MAX_CLAUSES, &err), 0);
	ck_assert_uint_eq(o.n, MT_ORDER_MAX_CLAUSES);
	ck_assert_str_eq(o.items[MT_ORDER_MAX_CLAUSES - 1].key, "m19");
	ck_assert_int_eq(o.items[0].asc, 0);
	mt_order_release(&o);
	ck_assert_int_eq(mt_order_parse(&o, R, cl, MT_ORDER_MAX_CLAUSES + 1, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "more than 20"));
	/* A duplicate at the very end frees everything parsed before it. */
	cl[MT_ORDER_MAX_CLAUSES - 1] = "metrics.m0";
	ck_assert_int_eq(mt_order_parse(&o, R, cl, MT_ORDER_MAX_CLAUSES, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "duplicate"));
	ck_assert_ptr_null(o.items);
	free(cl);
	free(keys);
}
END_TEST

/* ------------------------------------------------------------------------
 * Limits and other edges.
 */

/* A heap copy of exactly n bytes + NUL, so ASan sees any overread. */
static char *repeat(const char *unit, size_t times, const char *head, const char *tail)
{
	size_t ul = strlen(unit), hl = strlen(head), tl = strlen(tail);
	char *s = malloc(hl + ul * times + tl + 1), *p = s;

	ck_assert_ptr_nonnull(s);
	memcpy(p, head, hl);
	p += hl;
	for (size_t i = 0; i < times; i++, p += ul)
		memcpy(p, unit, ul);
	memcpy(p, tail, tl);
	p[tl] = '\0';
	return s;
}

START_TEST(null_text)
{
	struct mt_filter f;
	struct mt_err err = MT_ERR_INIT;

	ck_assert_int_eq(mt_filter_parse(&f, R, NULL, &err), 0);
	ck_assert_uint_eq(f.n, 0);
	ck_assert_ptr_null(f.clauses);
	mt_filter_release(&f);
	mt_filter_release(NULL);
	ck_assert_int_eq(mt_filter_parse(&f, (enum mt_filter_entity)42, "name = 'x'", &err), -1);
}
END_TEST

START_TEST(length_limit)
{
	struct mt_filter f;
	struct mt_err err = MT_ERR_INIT;
	/* "tags.t = '" + filler + "'" is exactly MT_FILTER_MAX_LEN bytes. */
	char *s = repeat("x", MT_FILTER_MAX_LEN - 11, "tags.t = '", "'");

	ck_assert_uint_eq(strlen(s), MT_FILTER_MAX_LEN);
	ck_assert_int_eq(mt_filter_parse(&f, R, s, &err), 0);
	ck_assert_uint_eq(strlen(f.clauses[0].str), MT_FILTER_MAX_LEN - 11);
	mt_filter_release(&f);
	free(s);

	s = repeat("x", MT_FILTER_MAX_LEN - 10, "tags.t = '", "'");
	ck_assert_int_eq(mt_filter_parse(&f, R, s, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "longer than 65536"));
	free(s);

	/* Long tokens are cut in messages, on a UTF-8 boundary. */
	s = repeat("\xc3\xa9", 5000, "tags.t = ", "");
	ck_assert_int_eq(mt_filter_parse(&f, R, s, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "..."));
	ck_assert_uint_lt(strlen(err.msg), 300);
	free(s);
}
END_TEST

START_TEST(clause_limit)
{
	struct mt_filter f;
	struct mt_err err = MT_ERR_INIT;
	char *s = repeat("metrics.a > 1 AND ", MT_FILTER_MAX_CLAUSES - 1, "", "metrics.a > 1");

	ck_assert_int_eq(mt_filter_parse(&f, R, s, &err), 0);
	ck_assert_uint_eq(f.n, MT_FILTER_MAX_CLAUSES);
	mt_filter_release(&f);
	free(s);

	s = repeat("metrics.a > 1 AND ", MT_FILTER_MAX_CLAUSES, "", "metrics.a > 1");
	ck_assert_int_eq(mt_filter_parse(&f, R, s, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "more than 50 clauses"));
	ck_assert_ptr_null(f.clauses);
	free(s);
}
END_TEST

START_TEST(list_limit)
{
	struct mt_filter f;
	struct mt_err err = MT_ERR_INIT;
	char *s = repeat("'a',", MT_FILTER_MAX_LIST, "run_id IN (", ")");

	ck_assert_int_eq(mt_filter_parse(&f, R, s, &err), 0);
	ck_assert_uint_eq(f.clauses[0].nlist, MT_FILTER_MAX_LIST);
	mt_filter_release(&f);
	free(s);

	s = repeat("'a',", MT_FILTER_MAX_LIST + 1, "run_id IN (", ")");
	ck_assert_int_eq(mt_filter_parse(&f, R, s, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "more than 1000 values"));
	free(s);
}
END_TEST

/* An error in the last clause frees every clause, key, string and list
 * before it (LSan reports a leak otherwise). */
START_TEST(release_after_error)
{
	struct mt_filter f;
	struct mt_err err = MT_ERR_INIT;
	const char *texts[] = {
		"tags.a = 'x' AND run_id IN ('a','b') AND metrics.m > 1 AND params.p = 1",
		"tags.a = 'x' AND run_id IN ('a','b','c'",
		"tags.a = 'x' AND run_id IN ('a','b') AND tags.`b",
		"datasets.name IN ('a','b') AND foo = 'x'",
		"run_id IN ('a','b') AND run_id = ('c')",
	};

	for (size_t i = 0; i < N_ELEMS(texts); i++) {
		ck_assert_int_eq(mt_filter_parse(&f, R, texts[i], &err), -1);
		ck_assert_ptr_null(f.clauses);
		ck_assert_uint_eq(f.n, 0);
		mt_filter_release(&f);
	}
}
END_TEST

START_TEST(numbers_exact)
{
	struct mt_filter f;
	struct mt_err err = MT_ERR_INIT;

	ck_assert_int_eq(mt_filter_parse(&f, R,
		"start_time > 9007199254740993 AND metrics.a = -9223372036854775808 "
		"AND metrics.b = 9223372036854775808 AND metrics.c = 0.5 AND metrics.d = -0",
		&err), 0);
	ck_assert_uint_eq(f.n, 5);
	ck_assert(f.clauses[0].is_num && f.clauses[0].is_int);
	ck_assert(f.clauses[0].inum == 9007199254740993LL);  /* not rounded through double */
	ck_assert(f.clauses[1].is_int && f.clauses[1].inum == (-9223372036854775807LL - 1));
	ck_assert(f.clauses[2].is_num && !f.clauses[2].is_int);  /* overflows long long */
	ck_assert(f.clauses[3].is_num && !f.clauses[3].is_int && f.clauses[3].num == 0.5);
	ck_assert(f.clauses[4].is_int && f.clauses[4].inum == 0);
	ck_assert_ptr_null(f.clauses[0].str);
	ck_assert_ptr_null(f.clauses[0].list);
	mt_filter_release(&f);
}
END_TEST

START_TEST(names)
{
	ck_assert_str_eq(mt_filter_op_name(MT_OP_NOT_IN), "NOT IN");
	ck_assert_str_eq(mt_filter_op_name(MT_OP_GE), ">=");
	ck_assert_str_eq(mt_filter_op_name((enum mt_filter_op)99), "?");
	ck_assert_str_eq(mt_filter_kind_name(MT_FK_DATASET), "dataset");
	ck_assert_str_eq(mt_filter_kind_name((enum mt_filter_kind)-1), "?");
}
END_TEST

Suite *make_filter_suite(void)
{
	Suite *s = suite_create("filter");
	TCase *tc;

	tc = tcase_create("valid");
	tcase_set_timeout(tc, TIMEOUT);
	tcase_add_loop_test(tc, filter_ok, 0, (int)N_ELEMS(ok_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("rejected");
	tcase_set_timeout(tc, TIMEOUT);
	tcase_add_loop_test(tc, filter_bad, 0, (int)N_ELEMS(bad_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("order_by");
	tcase_set_timeout(tc, TIMEOUT);
	tcase_add_loop_test(tc, order_table, 0, (int)N_ELEMS(order_cases));
	tcase_add_test(tc, order_null_entry);
	tcase_add_test(tc, order_limits);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_set_timeout(tc, TIMEOUT);
	tcase_add_test(tc, null_text);
	tcase_add_test(tc, length_limit);
	tcase_add_test(tc, clause_limit);
	tcase_add_test(tc, list_limit);
	suite_add_tcase(s, tc);

	tc = tcase_create("memory");
	tcase_set_timeout(tc, TIMEOUT);
	tcase_add_test(tc, release_after_error);
	suite_add_tcase(s, tc);

	tc = tcase_create("values");
	tcase_set_timeout(tc, TIMEOUT);
	tcase_add_test(tc, numbers_exact);
	tcase_add_test(tc, names);
	suite_add_tcase(s, tc);

	return s;
}
