/*
 * syncgate: an LD_PRELOAD library for tests that holds a process's syncs
 * back on demand.  While the file named by $SYNC_GATE exists, the first
 * fsync or fdatasync passes and every later one waits until the file is
 * removed.  check_watch runs storesd under it to keep a sync = full
 * commit made but not yet durable: the commit's own data sync passes,
 * the sync that would make it durable waits.
 */
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define EXPORT	__attribute__((visibility("default")))

static atomic_uint	 passed;	/* syncs since the gate went up */

static void
gate(void)
{
	const char	*path = getenv("SYNC_GATE");
	struct timespec	 ms = { 0, 1000 * 1000 };

	if (path == NULL || access(path, F_OK) != 0) {
		atomic_store(&passed, 0);
		return;
	}
	if (atomic_fetch_add(&passed, 1) == 0)
		return;
	while (access(path, F_OK) == 0)
		nanosleep(&ms, NULL);
	atomic_store(&passed, 0);
}

EXPORT int
fdatasync(int fd)
{
	int	(*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");

	gate();
	return real(fd);
}

EXPORT int
fsync(int fd)
{
	int	(*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");

	gate();
	return real(fd);
}
