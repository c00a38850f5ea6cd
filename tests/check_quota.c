/*
 * The per-uid shares of what all clients share (daemon/quota.c): no uid
 * over half of a cap, totals under it, and a uid that holds nothing has
 * no row left.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include <check.h>

#include "check_main.h"
#include "quota.h"

START_TEST(a_share_is_half_rounded_up)
{
	ck_assert_uint_eq(quota_share(1), 1);
	ck_assert_uint_eq(quota_share(2), 1);
	ck_assert_uint_eq(quota_share(3), 2);
	ck_assert_uint_eq(quota_share(8), 4);
	ck_assert_uint_eq(quota_share(1024), 512);
}
END_TEST

/* Root's share taken, another uid still finds the other half. */
START_TEST(one_uid_leaves_the_other_half)
{
	int	 i;

	for (i = 0; i < 4; i++)
		ck_assert_int_eq(quota_take(QUOTA_CONNS, 0, 1, 4, 8),
		    QUOTA_OK);
	ck_assert_int_eq(quota_take(QUOTA_CONNS, 0, 1, 4, 8), QUOTA_SHARE);
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(quota_take(QUOTA_CONNS, 65534, 1, 4, 8),
		    QUOTA_OK);
	ck_assert_uint_eq(quota_held(QUOTA_CONNS, 0), 4);
	ck_assert_uint_eq(quota_total(QUOTA_CONNS), 8);
	/* Another resource of the same uid is its own. */
	ck_assert_int_eq(quota_take(QUOTA_WATCHES, 0, 1, 1, 1), QUOTA_OK);
	ck_assert_int_eq(quota_take(QUOTA_WATCHES, 1, 1, 1, 1), QUOTA_CAP);
	quota_give(QUOTA_WATCHES, 0, 1);
	quota_give(QUOTA_CONNS, 0, 4);
	quota_give(QUOTA_CONNS, 65534, 4);
	ck_assert_uint_eq(quota_held(QUOTA_CONNS, 0), 0);
	ck_assert_uint_eq(quota_total(QUOTA_CONNS), 0);
	ck_assert_uint_eq(quota_total(QUOTA_WATCHES), 0);
}
END_TEST

/* A lowered cap (a reload) takes nothing back: takes are refused until
 * the holders are under it, and gives keep the counts exact. */
START_TEST(a_lowered_cap_takes_nothing_back)
{
	ck_assert_int_eq(quota_take(QUOTA_PLACES, 7, 3, 4, 8), QUOTA_OK);
	ck_assert_int_eq(quota_take(QUOTA_PLACES, 7, 1, 1, 2), QUOTA_SHARE);
	quota_give(QUOTA_PLACES, 7, 2);
	ck_assert_int_eq(quota_take(QUOTA_PLACES, 7, 1, 1, 2), QUOTA_SHARE);
	quota_give(QUOTA_PLACES, 7, 1);
	ck_assert_int_eq(quota_take(QUOTA_PLACES, 7, 1, 1, 2), QUOTA_OK);
	quota_give(QUOTA_PLACES, 7, 1);
	ck_assert_uint_eq(quota_total(QUOTA_PLACES), 0);
}
END_TEST

START_TEST(refusals_name_the_limit)
{
	struct sp_error	 err;

	ck_assert_int_eq(quota_take(QUOTA_PLACES, 1000, 2, 2, 4), QUOTA_OK);
	ck_assert_int_eq(quota_refusal(QUOTA_PLACES, QUOTA_SHARE, 1000, 4,
	    &err), -1);
	ck_assert_int_eq(err.code, SP_BUSY);
	ck_assert_int_eq(err.retry_ms, SP_RETRY_LONG_MS);
	ck_assert_msg(strstr(err.msg, "uid 1000 holds 2 snapshots and "
	    "restores, its share (2) of snapshot_max (4)") != NULL, "%s",
	    err.msg);
	quota_give(QUOTA_PLACES, 1000, 2);
	quota_refusal(QUOTA_WATCHES, QUOTA_CAP, 1000, 9, &err);
	ck_assert_int_eq(err.code, SP_BUSY);
	ck_assert_int_eq(err.retry_ms, -1);
	ck_assert_msg(strstr(err.msg, "max_watches_total (9)") != NULL, "%s",
	    err.msg);
}
END_TEST

/* Many uids come and go from several threads: every row goes. */
#define NTHREADS	4
#define ROUNDS		20000

static void *
churn(void *arg)
{
	uid_t	 base = (uid_t)(uintptr_t)arg;
	int	 i;

	for (i = 0; i < ROUNDS; i++) {
		if (quota_take(QUOTA_INPUT, base + i % 64, 10, 1000,
		    UINT64_MAX) == QUOTA_OK)
			quota_give(QUOTA_INPUT, base + i % 64, 10);
	}
	return NULL;
}

START_TEST(threads_leave_nothing_held)
{
	pthread_t	 t[NTHREADS];
	int		 i;

	for (i = 0; i < NTHREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, churn,
		    (void *)(uintptr_t)(i * 32)), 0);
	for (i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	ck_assert_uint_eq(quota_total(QUOTA_INPUT), 0);
	for (i = 0; i < NTHREADS * 32 + 64; i++)
		ck_assert_uint_eq(quota_held(QUOTA_INPUT, (uid_t)i), 0);
}
END_TEST

static Suite *
quota_suite(void)
{
	Suite	*s = suite_create("quota");
	TCase	*tc = tcase_create("quota");

	tcase_add_test(tc, a_share_is_half_rounded_up);
	tcase_add_test(tc, one_uid_leaves_the_other_half);
	tcase_add_test(tc, a_lowered_cap_takes_nothing_back);
	tcase_add_test(tc, refusals_name_the_limit);
	tcase_add_test(tc, threads_leave_nothing_held);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(quota_suite());
}
