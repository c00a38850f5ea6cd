#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sp_msg.h"
#include "sp_names.h"

static int
name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

int
sp_repo_check(struct sp_bytes repo, struct sp_error *err)
{
	size_t	 i, start = 0, len;

	if (repo.p == NULL || repo.n == 0)
		return sp_seterr(err, SP_BAD_REPO,
		    "the repo name is empty; leave it out to use '%s'",
		    SP_DEFAULT_REPO);
	if (repo.n > SP_REPO_MAX)
		return sp_seterr(err, SP_BAD_REPO,
		    "the repo name is %zu bytes; the limit is %d", repo.n,
		    SP_REPO_MAX);
	/* Bytes first, so the messages below may quote the name. */
	for (i = 0; i < repo.n; i++)
		if (repo.p[i] != '/' && !name_char((unsigned char)repo.p[i]))
			return sp_seterr(err, SP_BAD_REPO,
			    "byte 0x%02x at offset %zu of the repo name is not "
			    "allowed; use A-Z a-z 0-9 . _ - and '/' between "
			    "components", (unsigned char)repo.p[i], i);
	for (i = 0; i <= repo.n; i++) {
		if (i < repo.n && repo.p[i] != '/')
			continue;
		len = i - start;
		if (len == 0)
			return sp_seterr(err, SP_BAD_REPO,
			    "the repo name '%.*s' has an empty component "
			    "(a leading, trailing or doubled '/')",
			    (int)repo.n, repo.p);
		if ((len == 1 && repo.p[start] == '.') ||
		    (len == 2 && repo.p[start] == '.' &&
		    repo.p[start + 1] == '.'))
			return sp_seterr(err, SP_BAD_REPO,
			    "the repo name '%.*s' has a '.' or '..' component",
			    (int)repo.n, repo.p);
		start = i + 1;
	}
	return 0;
}

int
sp_name_check(struct sp_bytes name)
{
	size_t	 i;

	if (name.p == NULL || name.n == 0 || name.n > SP_NAME_MAX ||
	    name.p[0] == '.' || name.p[0] == '-')
		return -1;
	for (i = 0; i < name.n; i++)
		if (!name_char((unsigned char)name.p[i]))
			return -1;
	return 0;
}

static int
fit(char *buf, size_t n, const char *fmt, const char *a, unsigned long b)
{
	int	 len;

	len = snprintf(buf, n, fmt, a, b);
	if (len < 0 || (size_t)len >= n) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int
sp_default_socket(char *buf, size_t n)
{
	const char	*s;

	if ((s = getenv("STORESD_SOCKET")) != NULL && *s != '\0')
		return fit(buf, n, "%s", s, 0);
	if (geteuid() == 0)
		return fit(buf, n, "%s", "/run/storesd/storesd.sock", 0);
	if ((s = getenv("XDG_RUNTIME_DIR")) != NULL && *s == '/')
		return fit(buf, n, "%s/storesd/storesd.sock", s, 0);
	return fit(buf, n, "%s%lu/storesd.sock", "/tmp/storesd-",
	    (unsigned long)geteuid());
}

int
sp_default_data_dir(char *buf, size_t n)
{
	const char	*s;

	if (geteuid() == 0)
		return fit(buf, n, "%s", "/var/lib/storesd", 0);
	if ((s = getenv("XDG_DATA_HOME")) != NULL && *s == '/')
		return fit(buf, n, "%s/storesd", s, 0);
	if ((s = getenv("HOME")) != NULL && *s == '/')
		return fit(buf, n, "%s/.local/share/storesd", s, 0);
	errno = ENOENT;
	return -1;
}
