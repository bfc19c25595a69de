/* mt_scope.c: permission levels and token scopes (see mt_scope.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mt_scope.h"
#include "mt_util.h"
#include "mt_validate.h"

static const char *const perm_names[] = { "NO_PERMISSIONS", "READ", "EDIT", "MANAGE" };

const char *mt_perm_name(enum mt_perm p)
{
	return p >= MT_PERM_NONE && p <= MT_PERM_MANAGE ? perm_names[p] : "NO_PERMISSIONS";
}

int mt_perm_parse(const char *s, enum mt_perm *out)
{
	for (int i = 0; s && i < 4; i++)
		if (strcmp(s, perm_names[i]) == 0) {
			*out = (enum mt_perm)i;
			return 0;
		}
	return -1;
}

const char *mt_stage_cap_name(enum mt_stage_cap cap)
{
	return cap == MT_CAP_STAGING ? "Staging" : cap == MT_CAP_PRODUCTION ? "Production" : "";
}

/* ---- parsing ---- */

/* The grant being parsed, for messages: its number and its text quoted. */
struct where {
	size_t no;
	char quoted[100];
};

static int bad(struct mt_err *err, const struct where *w, const char *why)
{
	return mt_err_set(err, MT_EINVAL, "invalid scope: grant %zu '%s': %s", w->no, w->quoted,
			  why);
}

/* A NAME field decoded into arena memory, or NULL with why. */
static char *decode_name(const char *s, size_t len, struct mt_arena *a, const char **why)
{
	char *out = mt_arena_alloc(a, len + 1);
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '%') {
			int hi = i + 2 < len ? mt_hexval(s[i + 1]) : -1;
			int lo = i + 2 < len ? mt_hexval(s[i + 2]) : -1;

			if (hi < 0 || lo < 0) {
				*why = "'%' in a model name starts %XX, two hex digits";
				return NULL;
			}
			if (hi == 0 && lo == 0) {
				*why = "a model name holds no NUL byte";
				return NULL;
			}
			out[o++] = (char)(hi * 16 + lo);
			i += 2;
			continue;
		}
		if (c < 0x21 || c == 0x7f) {
			*why = "a space or control byte in a model name is written %XX";
			return NULL;
		}
		out[o++] = (char)c;
	}
	out[o] = '\0';
	if (o == 0) {
		*why = "the model name is empty";
		return NULL;
	}
	if (o > MT_SCOPE_MAX_NAME) {
		*why = "the model name is too long";
		return NULL;
	}
	if (!mt_utf8_valid(out, o)) {
		*why = "the model name is not valid UTF-8";
		return NULL;
	}
	return out;
}

static int eq(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && strncasecmp(s, word, len) == 0;
}

static int level(const char *s, size_t len, enum mt_perm *out)
{
	if (eq(s, len, "READ"))
		*out = MT_PERM_READ;
	else if (eq(s, len, "EDIT"))
		*out = MT_PERM_EDIT;
	else if (eq(s, len, "MANAGE"))
		*out = MT_PERM_MANAGE;
	else
		return -1;
	return 0;
}

/* One grant, s[0..len) trimmed, into g. */
static int parse_grant(struct mt_grant *g, const char *s, size_t len, struct mt_arena *a,
		       const struct where *w, struct mt_err *err)
{
	const char *f[5];
	size_t fl[5], nf = 0;
	const char *p = s, *end = s + len;

	/* Split on ':' into at most 5 fields (one more to notice too many). */
	while (nf < 5) {
		const char *c = memchr(p, ':', (size_t)(end - p));

		f[nf] = p;
		fl[nf] = c ? (size_t)(c - p) : (size_t)(end - p);
		nf++;
		if (!c)
			break;
		p = c + 1;
	}
	if (nf == 5)
		return bad(err, w, "too many ':' (a ':' in a model name is written %3A)");
	memset(g, 0, sizeof(*g));
	if (eq(f[0], fl[0], "read")) {
		if (nf != 2 || !eq(f[1], fl[1], "*"))
			return bad(err, w, "the only read grant is read:*");
		g->kind = MT_GRANT_READ_ALL;
		g->perm = MT_PERM_READ;
		return 0;
	}
	if (eq(f[0], fl[0], "experiment")) {
		char digits[20];

		if (nf != 3)
			return bad(err, w, "an experiment grant is experiment:ID:READ|EDIT|MANAGE");
		if (fl[1] == 0 || fl[1] > 18 || strspn(f[1], "0123456789") < fl[1])
			return bad(err, w, "the experiment id is not a number (1 to 18 digits)");
		memcpy(digits, f[1], fl[1]);
		digits[fl[1]] = '\0';
		g->kind = MT_GRANT_EXPERIMENT;
		g->experiment_id = strtoll(digits, NULL, 10);
		if (eq(f[2], fl[2], "NO_PERMISSIONS"))
			return bad(err, w, "NO_PERMISSIONS grants nothing: leave the experiment out");
		if (level(f[2], fl[2], &g->perm))
			return bad(err, w, "the level is READ, EDIT or MANAGE");
		return 0;
	}
	if (eq(f[0], fl[0], "model")) {
		const char *why = NULL;

		if (nf != 3 && nf != 4)
			return bad(err, w, "a model grant is model:NAME:READ|EDIT|MANAGE or "
					   "model:NAME:promote:Staging|Production (a ':' in the "
					   "name is written %3A)");
		g->kind = MT_GRANT_MODEL;
		g->model = decode_name(f[1], fl[1], a, &why);
		if (!g->model)
			return bad(err, w, why);
		if (nf == 4) {
			if (!eq(f[2], fl[2], "promote"))
				return bad(err, w, "after the model name comes a level, or promote:STAGE "
						   "(a ':' in a model name is written %3A)");
			if (eq(f[3], fl[3], "Staging"))
				g->promote = MT_CAP_STAGING;
			else if (eq(f[3], fl[3], "Production"))
				g->promote = MT_CAP_PRODUCTION;
			else
				return bad(err, w, "a promote grant's stage is Staging or Production");
			g->perm = MT_PERM_EDIT;
			return 0;
		}
		if (eq(f[2], fl[2], "NO_PERMISSIONS"))
			return bad(err, w, "NO_PERMISSIONS grants nothing: leave the model out");
		if (level(f[2], fl[2], &g->perm))
			return bad(err, w, "the level is READ, EDIT or MANAGE, or promote:STAGE");
		return 0;
	}
	return bad(err, w, "a grant starts with read:, experiment: or model:");
}

int mt_scope_parse(struct mt_scope *out, const char *text, struct mt_arena *a,
		   struct mt_err *err)
{
	size_t len, cap = 0;
	const char *p;
	struct where w;

	memset(out, 0, sizeof(*out));
	if (!text || !*text)
		return mt_err_set(err, MT_EINVAL, "invalid scope: it is empty (a token without a "
						  "scope has all its owner's rights)");
	len = strlen(text);
	if (len > MT_SCOPE_MAX_LEN)
		return mt_err_set(err, MT_EINVAL, "invalid scope: longer than %d bytes",
				  MT_SCOPE_MAX_LEN);
	for (p = text; *p; p++)
		if ((unsigned char)*p < 0x20 && *p != '\t')
			return mt_err_set(err, MT_EINVAL, "invalid scope: a control byte at offset %zu",
					  (size_t)(p - text));
	for (p = text; *p; p++)
		cap += *p == ',';
	if (cap + 1 > MT_SCOPE_MAX_GRANTS)
		return mt_err_set(err, MT_EINVAL, "invalid scope: more than %d grants",
				  MT_SCOPE_MAX_GRANTS);
	out->grants = mt_arena_alloc(a, sizeof(*out->grants) * (cap + 1));
	p = text;
	for (w.no = 1;; w.no++) {
		const char *comma = strchr(p, ','), *e = comma ? comma : p + strlen(p);
		const char *s = p;

		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		mt_quote(w.quoted, 80, s, (size_t)(e - s));
		if (s == e)
			return mt_err_set(err, MT_EINVAL, "invalid scope: grant %zu is empty", w.no);
		if (parse_grant(&out->grants[out->n], s, (size_t)(e - s), a, &w, err))
			return -1;
		out->n++;
		if (!comma)
			break;
		p = comma + 1;
	}
	return 0;
}

/* ---- formatting ---- */

static void put_name(char *o, size_t *n, const char *name)
{
	for (const unsigned char *s = (const unsigned char *)name; *s; s++) {
		if (*s == '%' || *s == ',' || *s == ':' || *s < 0x21 || *s == 0x7f)
			*n += (size_t)sprintf(o + *n, "%%%02X", *s);
		else
			o[(*n)++] = (char)*s;
	}
}

const char *mt_scope_format(const struct mt_scope *s, struct mt_arena *a)
{
	size_t size = 1;
	char *out;
	size_t n = 0;

	for (size_t i = 0; i < s->n; i++)
		size += 64 + (s->grants[i].model ? 3 * strlen(s->grants[i].model) : 0);
	out = mt_arena_alloc(a, size);
	for (size_t i = 0; i < s->n; i++) {
		const struct mt_grant *g = &s->grants[i];

		if (i)
			out[n++] = ',';
		switch (g->kind) {
		case MT_GRANT_READ_ALL:
			n += (size_t)sprintf(out + n, "read:*");
			break;
		case MT_GRANT_EXPERIMENT:
			n += (size_t)sprintf(out + n, "experiment:%lld:%s", g->experiment_id,
					     mt_perm_name(g->perm));
			break;
		case MT_GRANT_MODEL:
			n += (size_t)sprintf(out + n, "model:");
			put_name(out, &n, g->model);
			if (g->promote)
				n += (size_t)sprintf(out + n, ":promote:%s", mt_stage_cap_name(g->promote));
			else
				n += (size_t)sprintf(out + n, ":%s", mt_perm_name(g->perm));
			break;
		}
	}
	out[n] = '\0';
	return out;
}

/* ---- questions ---- */

int mt_scope_reads_all(const struct mt_scope *s)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->grants[i].kind == MT_GRANT_READ_ALL)
			return 1;
	return 0;
}

enum mt_perm mt_scope_experiment(const struct mt_scope *s, long long id)
{
	enum mt_perm best = MT_PERM_NONE;

	for (size_t i = 0; i < s->n; i++) {
		const struct mt_grant *g = &s->grants[i];

		if ((g->kind == MT_GRANT_READ_ALL ||
		     (g->kind == MT_GRANT_EXPERIMENT && g->experiment_id == id)) && g->perm > best)
			best = g->perm;
	}
	return best;
}

enum mt_perm mt_scope_model(const struct mt_scope *s, const char *name, enum mt_stage_cap *cap)
{
	enum mt_perm best = MT_PERM_NONE;
	enum mt_stage_cap c = MT_CAP_ANY;

	for (size_t i = 0; i < s->n; i++) {
		const struct mt_grant *g = &s->grants[i];

		if (!(g->kind == MT_GRANT_READ_ALL ||
		      (g->kind == MT_GRANT_MODEL && name && strcmp(g->model, name) == 0)))
			continue;
		if (g->perm > best) {
			best = g->perm;
			c = g->promote;
		} else if (g->perm == best && c != MT_CAP_ANY &&
			   (g->promote == MT_CAP_ANY || g->promote > c)) {
			c = g->promote; /* a wider limit, or none, at the same level */
		}
	}
	*cap = best == MT_PERM_EDIT ? c : MT_CAP_ANY;
	return best;
}

int mt_scope_edits_a_model(const struct mt_scope *s)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->grants[i].kind == MT_GRANT_MODEL && s->grants[i].perm >= MT_PERM_EDIT)
			return 1;
	return 0;
}

int mt_stage_allowed(enum mt_stage_cap cap, const char *from, const char *to)
{
	if (cap != MT_CAP_STAGING)
		return 1;
	if (from && strcmp(from, "Production") == 0)
		return 0;
	return to && (strcmp(to, "None") == 0 || strcmp(to, "Staging") == 0);
}
