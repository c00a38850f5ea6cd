#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sp_error.h"

static const struct {
	const char	*name;
	const char	*text;
} codes[SP_NCODES] = {
#define SP_CODE_ROW(n, name, text) [n] = { #name, text },
	SP_CODES(SP_CODE_ROW)
#undef SP_CODE_ROW
};

const char *
sp_code_name(int code)
{
	if (code < 0 || code >= SP_NCODES)
		return NULL;
	return codes[code].name;
}

const char *
sp_code_text(int code)
{
	if (code < 0 || code >= SP_NCODES)
		return NULL;
	return codes[code].text;
}

int
sp_code_by_name(const char *name)
{
	int	 i;

	for (i = 0; i < SP_NCODES; i++)
		if (strcmp(codes[i].name, name) == 0)
			return i;
	return -1;
}

const char *
sp_quote(const void *p, size_t n, char *buf)
{
	static const char	 hex[] = "0123456789abcdef";
	const unsigned char	*s = p;
	size_t			 i, o = 0;

	for (i = 0; i < n && i < SP_QUOTE_MAX; i++) {
		if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\\') {
			buf[o++] = (char)s[i];
			continue;
		}
		buf[o++] = '\\';
		buf[o++] = 'x';
		buf[o++] = hex[s[i] >> 4];
		buf[o++] = hex[s[i] & 0xf];
	}
	if (i < n)
		buf[o++] = '.', buf[o++] = '.', buf[o++] = '.';
	buf[o] = '\0';
	return buf;
}

int
sp_seterr(struct sp_error *err, int code, const char *fmt, ...)
{
	va_list	 ap;

	if (err == NULL)
		return -1;
	err->code = code;
	err->has_index = 0;
	err->retry_ms = -1;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

int
sp_seterr_at(struct sp_error *err, uint64_t index, int code,
    const char *fmt, ...)
{
	va_list	 ap;

	if (err == NULL)
		return -1;
	err->code = code;
	err->has_index = 1;
	err->index = index;
	err->retry_ms = -1;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

int
sp_seterr_busy(struct sp_error *err, int64_t retry_ms, const char *fmt, ...)
{
	va_list	 ap;

	if (err == NULL)
		return -1;
	err->code = SP_BUSY;
	err->has_index = 0;
	err->retry_ms = retry_ms < 0 ? -1 : retry_ms;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -1;
}
