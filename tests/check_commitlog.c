/*
 * The commit log that dates readers' snapshots (daemon/commitlog.c): its
 * ages are lower bounds of the true ones, exact to a grain for recent
 * commits, and still bounds once thinned.
 */
#include <check.h>

#include "check_main.h"
#include "commitlog.h"

START_TEST(empty_log_dates_nothing)
{
	struct cl_log	 l;

	cl_init(&l);
	ck_assert_uint_eq(cl_age_ms(&l, 0, 5000), 0);
	ck_assert_uint_eq(cl_age_ms(&l, 7, 5000), 0);
	cl_fini(&l);
}
END_TEST

START_TEST(age_is_since_the_first_commit_unseen)
{
	struct cl_log	 l;

	cl_init(&l);
	cl_note(&l, 10, 1000);
	cl_note(&l, 11, 2000);
	cl_note(&l, 12, 3000);
	/* A reader of 10 began before commit 11 (made at 2000). */
	ck_assert_uint_eq(cl_age_ms(&l, 10, 5000), 3000);
	ck_assert_uint_eq(cl_age_ms(&l, 11, 5000), 2000);
	ck_assert_uint_eq(cl_age_ms(&l, 9, 5000), 4000);
	/* One that sees the latest commit holds nothing back. */
	ck_assert_uint_eq(cl_age_ms(&l, 12, 5000), 0);
	ck_assert_uint_eq(cl_age_ms(&l, 40, 5000), 0);
	cl_fini(&l);
}
END_TEST

START_TEST(a_burst_is_one_grain_dated_by_its_last)
{
	struct cl_log	 l;

	cl_init(&l);
	cl_note(&l, 10, 1000);
	cl_note(&l, 11, 1004);
	cl_note(&l, 12, 1009);		/* within CL_GRAIN_MS of 1000 */
	cl_note(&l, 13, 1010);		/* a grain of its own */
	ck_assert_uint_eq(l.n, 2);
	/* Commit 11 was made at 1004; the bound says 1009: not later. */
	ck_assert_uint_eq(cl_age_ms(&l, 10, 2000), 991);
	ck_assert_uint_eq(cl_age_ms(&l, 12, 2000), 990);
	/* A txnid that does not grow is not news. */
	cl_note(&l, 13, 3000);
	cl_note(&l, 5, 3000);
	ck_assert_uint_eq(l.n, 2);
	ck_assert_uint_eq(cl_age_ms(&l, 12, 4000), 2990);
	cl_fini(&l);
}
END_TEST

/*
 * Ten thousand commits 100 ms apart: the log stays CL_CAP long, every
 * age it gives is at most the true one (now - time of commit T + 1), the
 * oldest is still exact, and recent ones are exact.
 */
START_TEST(thinned_ages_stay_lower_bounds)
{
	struct cl_log	 l;
	uint64_t	 t, now = 100 * 10001, age, truth;

	cl_init(&l);
	for (t = 1; t <= 10000; t++) {
		cl_note(&l, t, 100 * t);
		ck_assert_uint_le(l.n, CL_CAP);
	}
	for (t = 0; t < 10000; t++) {
		age = cl_age_ms(&l, t, now);
		truth = now - 100 * (t + 1);
		ck_assert_uint_le(age, truth);
		ck_assert_uint_gt(age, 0);
	}
	ck_assert_uint_eq(cl_age_ms(&l, 0, now), now - 100);
	ck_assert_uint_eq(cl_age_ms(&l, 9999, now), 100);
	ck_assert_uint_eq(cl_age_ms(&l, 10000, now), 0);
	cl_fini(&l);
}
END_TEST

static Suite *
commitlog_suite(void)
{
	Suite	*s = suite_create("commitlog");
	TCase	*tc = tcase_create("commitlog");

	tcase_add_test(tc, empty_log_dates_nothing);
	tcase_add_test(tc, age_is_since_the_first_commit_unseen);
	tcase_add_test(tc, a_burst_is_one_grain_dated_by_its_last);
	tcase_add_test(tc, thinned_ages_stay_lower_bounds);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(commitlog_suite());
}
