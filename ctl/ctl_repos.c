/*
 * ctl_repos: a repository's life: repos, create, drop, restore (ctl.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "ctl_fmt.h"

static void
repos_json(const sc_repos *r)
{
	size_t	 i;

	fputs("{\"repos\":[", stdout);
	for (i = 0; i < r->n; i++) {
		const sc_repo_env *e = &r->envs[i];

		fputs(i ? ",{\"repo\":" : "{\"repo\":", stdout);
		ctl_fmt_put_json_cstr(stdout, e->repo);
		fputs(",\"store\":", stdout);
		ctl_fmt_put_json_cstr(stdout, e->store);
		printf(",\"size\":%llu,\"open\":%s}",
		    (unsigned long long)e->size, e->open ? "true" : "false");
	}
	fputs("]}\n", stdout);
}

int
ctl_repos_list(struct ctl *ctl)
{
	sc_repos	*r = NULL;
	size_t		 i;

	if (ctl_connect(ctl) == -1)
		return -1;
	if (sc_list_repos(ctl->conn, ctl->val[OPT_PREFIX],
	    ctl->ac > 0 ? ctl->av[0] : NULL, &r) == -1)
		return ctl_fail_sc(ctl);
	if (HAS(ctl, OPT_JSON))
		repos_json(r);
	else
		for (i = 0; i < r->n; i++)
			printf("%s\t%s\t%llu\t%s\n", r->envs[i].repo ?
			    r->envs[i].repo : "-", r->envs[i].store,
			    (unsigned long long)r->envs[i].size,
			    r->envs[i].open ? "open" : "closed");
	/* Scripts ask whether a repo exists. */
	if (r->n == 0)
		ctl->status = CTL_EXIT_NOT_FOUND;
	sc_repos_free(r);
	return 0;
}

int
ctl_repos_create(struct ctl *ctl)
{
	if (ctl_connect(ctl) == -1)
		return -1;
	if (sc_create(ctl->conn, REPO(ctl), ctl->ac > 0 ? ctl->av[0] : NULL,
	    NULL) == -1)
		return ctl_fail_sc(ctl);
	return 0;
}

int
ctl_repos_drop(struct ctl *ctl)
{
	if (ctl_connect(ctl) == -1)
		return -1;
	if (sc_drop(ctl->conn, REPO(ctl), ctl->ac > 0 ? ctl->av[0] : NULL,
	    NULL) == -1)
		return ctl_fail_sc(ctl);
	return 0;
}

int
ctl_repos_restore(struct ctl *ctl)
{
	const char	*file = ctl->av[1];
	uint64_t	 size;
	int		 fd, ret = -1;

	/* storectl opens the file as its user; storesd gets the descriptor. */
	if (strcmp(file, "-") == 0)
		fd = STDIN_FILENO;
	else if ((fd = open(file, O_RDONLY | O_CLOEXEC)) == -1)
		return ctl_fail(ctl, CTL_EXIT_USAGE, "cannot open %s: %s", file,
		    strerror(errno));
	if (ctl_connect(ctl) == -1)
		goto done;
	if (ctl_progress_restore(ctl, fd, &size) == -1)
		goto done;
	ret = 0;
done:
	if (fd != STDIN_FILENO)
		close(fd);
	return ret;
}
