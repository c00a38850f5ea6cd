/*
 * A small JSON reader for the benchmark's own result files, so that the
 * report can take the median of several runs written earlier, by this
 * version or an older one.  It reads any JSON into a tree; the report
 * looks up what it knows and ignores the rest.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define JSON_DEPTH	32	/* ours nest 3 deep */
#define JSON_MAXFILE	(16 << 20)

struct jp {
	const char	*p;
	int		 depth;
};

static int	value(struct jp *j, struct jv *v);

static void
ws(struct jp *j)
{
	while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' ||
	    *j->p == '\r')
		j->p++;
}

/* Appends code point c to s (room for 4 bytes is the caller's). */
static size_t
utf8(char *s, unsigned c)
{
	if (c < 0x80) {
		s[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		s[0] = (char)(0xc0 | c >> 6);
		s[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	s[0] = (char)(0xe0 | c >> 12);
	s[1] = (char)(0x80 | ((c >> 6) & 0x3f));
	s[2] = (char)(0x80 | (c & 0x3f));
	return 3;
}

/* A string at j->p (its opening quote); a copy to free, or NULL. */
static char *
string(struct jp *j)
{
	const char	*p = j->p + 1, *end;
	char		*s, *o, hex[5];
	unsigned	 c;

	if (*j->p != '"')
		return NULL;
	/* Escapes only shrink, so the raw length is room enough. */
	for (end = p; *end && *end != '"'; end++)
		if (*end == '\\' && end[1])
			end++;
	if (*end != '"' || (s = malloc((size_t)(end - p) + 1)) == NULL)
		return NULL;
	for (o = s; p < end; p++) {
		if (*p != '\\') {
			*o++ = *p;
			continue;
		}
		switch (*++p) {
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'u':
			/* Surrogate pairs come out as two code points:
			 * our files hold none, and nothing reads them. */
			if (end - p < 5)
				goto bad;
			memcpy(hex, p + 1, 4);
			hex[4] = '\0';
			if (strspn(hex, "0123456789abcdefABCDEF") != 4)
				goto bad;
			c = (unsigned)strtoul(hex, NULL, 16);
			o += utf8(o, c);	/* 6 bytes in, at most 3 out */
			p += 4;
			break;
		default:
			*o++ = *p;	/* " \ / */
		}
	}
	*o = '\0';
	j->p = end + 1;
	return s;
bad:
	free(s);
	return NULL;
}

/* Adds kid to v's children (and key, for an object); 0 or -1. */
static int
push(struct jv *v, struct jv *kid, char *key)
{
	struct jv	*k;
	char		**keys;

	if ((k = realloc(v->kid, (v->n + 1) * sizeof(*k))) == NULL)
		return -1;
	v->kid = k;
	if (v->type == J_OBJ) {
		if ((keys = realloc(v->key, (v->n + 1) * sizeof(*keys))) ==
		    NULL)
			return -1;
		v->key = keys;
		keys[v->n] = key;
	}
	k[v->n++] = *kid;
	return 0;
}

/* An array or object at j->p; 0 or -1 (v holds what was read). */
static int
container(struct jp *j, struct jv *v, char close)
{
	struct jv	 kid;
	char		*key = NULL;

	if (++j->depth > JSON_DEPTH)
		return -1;
	j->p++;
	ws(j);
	if (*j->p == close) {
		j->p++;
		j->depth--;
		return 0;
	}
	for (;;) {
		ws(j);
		if (v->type == J_OBJ) {
			if ((key = string(j)) == NULL)
				return -1;
			ws(j);
			if (*j->p++ != ':')
				goto bad;
		}
		memset(&kid, 0, sizeof(kid));
		if (value(j, &kid) == -1 || push(v, &kid, key) == -1) {
			json_free_kids(&kid);
			goto bad;
		}
		key = NULL;
		ws(j);
		if (*j->p == close) {
			j->p++;
			j->depth--;
			return 0;
		}
		if (*j->p++ != ',')
			return -1;
	}
bad:
	free(key);
	return -1;
}

static int
value(struct jp *j, struct jv *v)
{
	char	*end;

	ws(j);
	switch (*j->p) {
	case '{':
		v->type = J_OBJ;
		return container(j, v, '}');
	case '[':
		v->type = J_ARR;
		return container(j, v, ']');
	case '"':
		v->type = J_STR;
		return (v->str = string(j)) == NULL ? -1 : 0;
	case 't':
	case 'f':
	case 'n':
		if (strncmp(j->p, "true", 4) == 0) {
			v->type = J_BOOL;
			v->num = 1;
			j->p += 4;
		} else if (strncmp(j->p, "false", 5) == 0) {
			v->type = J_BOOL;
			j->p += 5;
		} else if (strncmp(j->p, "null", 4) == 0) {
			v->type = J_NULL;
			j->p += 4;
		} else
			return -1;
		return 0;
	default:
		if (*j->p != '-' && (*j->p < '0' || *j->p > '9'))
			return -1;
		v->type = J_NUM;
		v->num = strtod(j->p, &end);
		if (end == j->p)
			return -1;
		j->p = end;
		return 0;
	}
}

void
json_free_kids(struct jv *v)
{
	size_t	 i;

	for (i = 0; i < v->n; i++) {
		json_free_kids(&v->kid[i]);
		if (v->key)
			free(v->key[i]);
	}
	free(v->kid);
	free(v->key);
	free(v->str);
	memset(v, 0, sizeof(*v));
}

void
json_free(struct jv *v)
{
	if (v == NULL)
		return;
	json_free_kids(v);
	free(v);
}

struct jv *
json_parse(const char *text)
{
	struct jp	 j = { text, 0 };
	struct jv	*v;

	if ((v = calloc(1, sizeof(*v))) == NULL)
		return NULL;
	if (value(&j, v) == -1) {
		json_free(v);
		return NULL;
	}
	ws(&j);
	if (*j.p != '\0') {
		json_free(v);
		return NULL;
	}
	return v;
}

struct jv *
json_load(const char *path)
{
	struct jv	*v = NULL;
	FILE		*f;
	char		*buf;
	size_t		 n;

	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	if ((buf = malloc(JSON_MAXFILE + 1)) != NULL) {
		n = fread(buf, 1, JSON_MAXFILE, f);
		buf[n] = '\0';
		/* A file too big, or with a NUL inside, is not ours. */
		if (n < JSON_MAXFILE && strlen(buf) == n)
			v = json_parse(buf);
		free(buf);
	}
	fclose(f);
	return v;
}

const struct jv *
json_get(const struct jv *obj, const char *key)
{
	size_t	 i;

	if (obj == NULL || obj->type != J_OBJ)
		return NULL;
	for (i = 0; i < obj->n; i++)
		if (strcmp(obj->key[i], key) == 0)
			return &obj->kid[i];
	return NULL;
}

bool
json_num(const struct jv *obj, const char *key, double *out)
{
	const struct jv	*v = json_get(obj, key);

	if (v == NULL || (v->type != J_NUM && v->type != J_BOOL))
		return false;
	*out = v->num;
	return true;
}

const char *
json_str_of(const struct jv *obj, const char *key)
{
	const struct jv	*v = json_get(obj, key);

	return v && v->type == J_STR ? v->str : NULL;
}
