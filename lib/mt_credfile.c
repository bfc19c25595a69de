/* mt_credfile.c: see mt_credfile.h. */
#include "mt_credfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char header[] =
	"# mltrack credentials, one section per tracking URI: written by `mltrack login`\n"
	"# and `mltrack logout`.  Keep this file private (mode 0600); see docs/cli/login.md.\n";

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* [a, b) with blanks trimmed both ends. */
static void trim(const char **a, const char **b)
{
	while (*a < *b && is_space(**a))
		++*a;
	while (*b > *a && is_space((*b)[-1]))
		--*b;
}

static struct mt_credfile_section *find(const struct mt_credfile *cf, const char *name)
{
	for (size_t i = 0; i < cf->n; i++)
		if (strcmp(cf->s[i].name, name) == 0)
			return &cf->s[i];
	return NULL;
}

static struct mt_credfile_section *add_section(struct mt_credfile *cf, const char *name,
					       size_t len)
{
	struct mt_credfile_section *s = realloc(cf->s, (cf->n + 1) * sizeof(*s));

	if (!s)
		return NULL;
	cf->s = s;
	s = &cf->s[cf->n];
	memset(s, 0, sizeof(*s));
	if (!(s->name = strndup(name, len)))
		return NULL;
	cf->n++;
	return s;
}

/* Set key to value[0..vlen) in s. */
static int put(struct mt_credfile_section *s, const char *key, size_t klen, const char *value,
	       size_t vlen)
{
	struct mt_credfile_kv *kv;
	char *v = strndup(value, vlen);

	if (!v)
		return -1;
	for (size_t i = 0; i < s->n; i++)
		if (strlen(s->kv[i].key) == klen && strncmp(s->kv[i].key, key, klen) == 0) {
			free(s->kv[i].value);
			s->kv[i].value = v;
			return 0;
		}
	if (!(kv = realloc(s->kv, (s->n + 1) * sizeof(*kv)))) {
		free(v);
		return -1;
	}
	s->kv = kv;
	if (!(kv[s->n].key = strndup(key, klen))) {
		free(v);
		return -1;
	}
	kv[s->n].value = v;
	s->n++;
	return 0;
}

int mt_credfile_parse(struct mt_credfile *cf, const char *text, size_t n, struct mt_err *err)
{
	struct mt_credfile_section *cur = NULL;
	const char *p = text, *end = text + n;
	int line = 0;

	if (n > MT_CREDFILE_MAX)
		return mt_err_set(err, MT_EINVAL, "larger than %d bytes", MT_CREDFILE_MAX);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *a = p, *b = nl ? nl : end, *eq;

		line++;
		p = nl ? nl + 1 : end;
		if (memchr(a, '\0', (size_t)(b - a)))
			return mt_err_set(err, MT_EINVAL, "line %d: a NUL byte", line);
		trim(&a, &b);
		if (a == b || *a == '#' || *a == ';')
			continue;
		if (*a == '[') {
			const char *na = a + 1, *nb = b;

			if (b[-1] != ']' || b - a < 3)
				return mt_err_set(err, MT_EINVAL, "line %d: a section is [TRACKING-URI]",
						  line);
			nb--;
			trim(&na, &nb);
			if (na == nb)
				return mt_err_set(err, MT_EINVAL, "line %d: an empty section name", line);
			{
				char *name = strndup(na, (size_t)(nb - na));

				if (!name)
					return mt_err_set(err, MT_EINTERNAL, "out of memory");
				cur = find(cf, name);
				free(name);
			}
			if (!cur && !(cur = add_section(cf, na, (size_t)(nb - na))))
				return mt_err_set(err, MT_EINTERNAL, "out of memory");
			continue;
		}
		eq = memchr(a, '=', (size_t)(b - a));
		if (!eq)
			return mt_err_set(err, MT_EINVAL, "line %d: expected [TRACKING-URI] or key = value",
					  line);
		if (!cur)
			return mt_err_set(err, MT_EINVAL, "line %d: a key before the first [TRACKING-URI]",
					  line);
		{
			const char *ka = a, *kb = eq, *va = eq + 1, *vb = b;

			trim(&ka, &kb);
			trim(&va, &vb);
			if (ka == kb)
				return mt_err_set(err, MT_EINVAL, "line %d: a value without a key", line);
			if (put(cur, ka, (size_t)(kb - ka), va, (size_t)(vb - va)))
				return mt_err_set(err, MT_EINTERNAL, "out of memory");
		}
	}
	return 0;
}

const char *mt_credfile_get(const struct mt_credfile *cf, const char *section, const char *key)
{
	const struct mt_credfile_section *s = find(cf, section);

	for (size_t i = 0; s && i < s->n; i++)
		if (strcmp(s->kv[i].key, key) == 0)
			return s->kv[i].value;
	return NULL;
}

static int one_line(const char *s)
{
	return !strpbrk(s, "\r\n");
}

int mt_credfile_set(struct mt_credfile *cf, const char *section, const char *key,
		    const char *value)
{
	struct mt_credfile_section *s;
	size_t klen = strlen(key);

	if (!*section || !one_line(section) || strchr(section, ']') || !klen || !one_line(key) ||
	    strchr(key, '=') || strchr("[#;", key[0]) || is_space(key[0]) || is_space(key[klen - 1]) ||
	    (value && !one_line(value))) {
		errno = EINVAL;
		return -1;
	}
	s = find(cf, section);
	if (!value) {
		for (size_t i = 0; s && i < s->n; i++)
			if (strcmp(s->kv[i].key, key) == 0) {
				free(s->kv[i].key);
				free(s->kv[i].value);
				memmove(&s->kv[i], &s->kv[i + 1], (s->n - i - 1) * sizeof(s->kv[0]));
				s->n--;
				break;
			}
		return 0;
	}
	if (!s && !(s = add_section(cf, section, strlen(section)))) {
		errno = ENOMEM;
		return -1;
	}
	if (put(s, key, klen, value, strlen(value))) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

static void section_free(struct mt_credfile_section *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->kv[i].key);
		free(s->kv[i].value);
	}
	free(s->kv);
	free(s->name);
}

int mt_credfile_remove(struct mt_credfile *cf, const char *section)
{
	struct mt_credfile_section *s = find(cf, section);
	size_t i;

	if (!s)
		return 0;
	i = (size_t)(s - cf->s);
	section_free(s);
	memmove(&cf->s[i], &cf->s[i + 1], (cf->n - i - 1) * sizeof(cf->s[0]));
	cf->n--;
	return 1;
}

char *mt_credfile_format(const struct mt_credfile *cf)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	fputs(header, f);
	for (size_t i = 0; i < cf->n; i++) {
		fprintf(f, "\n[%s]\n", cf->s[i].name);
		for (size_t k = 0; k < cf->s[i].n; k++)
			fprintf(f, "%s = %s\n", cf->s[i].kv[k].key, cf->s[i].kv[k].value);
	}
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

void mt_credfile_release(struct mt_credfile *cf)
{
	for (size_t i = 0; i < cf->n; i++)
		section_free(&cf->s[i]);
	free(cf->s);
	cf->s = NULL;
	cf->n = 0;
}
