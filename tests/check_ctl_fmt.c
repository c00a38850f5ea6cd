/*
 * Unit tests of ctl/ctl_fmt.c: hex both ways, trimming, the C escapes
 * of storectl's text output (to a stream and into a buffer) and JSON
 * strings, byte for byte, every writer's report of a stream that
 * fails, and the text and JSON forms of stats.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "check_main.h"

#include "ctl_fmt.h"

typedef int	(*writer_fn)(FILE *, const void *, size_t);

/* What w writes for the n bytes at p; *len is its length.  Free it. */
static char *
capture(writer_fn w, const void *p, size_t n, size_t *len)
{
	FILE	*f;
	char	*buf = NULL;
	size_t	 size = 0;

	f = open_memstream(&buf, &size);
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(w(f, p, n), 0);
	ck_assert_int_eq(fclose(f), 0);
	*len = size;
	return buf;
}

/* Checks that w turns the n bytes at p into exactly want. */
static void
expect_out(writer_fn w, const void *p, size_t n, const char *want)
{
	char	*got;
	size_t	 len;

	got = capture(w, p, n, &len);
	ck_assert_msg(len == strlen(want) && memcmp(got, want, len) == 0,
	    "wrote \"%.*s\" (%zu bytes), expected \"%s\"", (int)len, got, len,
	    want);
	free(got);
}

#define CESC(lit, want)	expect_out(ctl_fmt_put_cescape, lit, sizeof(lit) - 1, \
			    want)
#define JSON(lit, want)	expect_out(ctl_fmt_put_json_str, lit, sizeof(lit) - 1, \
			    want)

/* ---------------------------------------------------------------- hex */

START_TEST(hex_encode)
{
	static const unsigned char	 in[] = { 0x00, 0x0f, 0xf0, 0xff, 'a',
	    0x10, 0x09 };
	char				 out[2 * sizeof(in) + 1];

	memset(out, 'X', sizeof(out));
	ck_assert_ptr_eq(ctl_fmt_hex(out, in, sizeof(in)), out);
	ck_assert_str_eq(out, "000ff0ff611009");
	memset(out, 'X', sizeof(out));
	ck_assert_str_eq(ctl_fmt_hex(out, in, 0), "");
}
END_TEST

START_TEST(hex_put)
{
	unsigned char	*in;
	char		*want, *got;
	size_t		 n, len, sizes[] = { 0, 1, 4095, 4096, 4097,
	    3 * 4096 + 5 };
	size_t		 i, j;

	/* Around the writer's chunk size, so every chunk boundary shows. */
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		n = sizes[i];
		in = malloc(n + 1);
		want = malloc(2 * n + 1);
		ck_assert_ptr_nonnull(in);
		ck_assert_ptr_nonnull(want);
		for (j = 0; j < n; j++)
			in[j] = (unsigned char)(j * 7 + 3);
		ctl_fmt_hex(want, in, n);
		got = capture(ctl_fmt_put_hex, in, n, &len);
		ck_assert_uint_eq(len, 2 * n);
		ck_assert_msg(memcmp(got, want, len) == 0, "size %zu", n);
		free(got);
		free(want);
		free(in);
	}
}
END_TEST

START_TEST(unhex_valid)
{
	unsigned char	 out[8];
	size_t		 bad = 99;

	ck_assert_int_eq(ctl_fmt_unhex("00ff7F0aA0", 10, out, &bad), 0);
	ck_assert_mem_eq(out, "\x00\xff\x7f\x0a\xa0", 5);
	ck_assert_uint_eq(bad, 99);	/* untouched on success */
	ck_assert_int_eq(ctl_fmt_unhex("", 0, out, &bad), 0);
	/* Only n digits are read: a longer string is no error. */
	ck_assert_int_eq(ctl_fmt_unhex("6b33zz", 4, out, &bad), 0);
	ck_assert_mem_eq(out, "k3", 2);
}
END_TEST

START_TEST(unhex_in_place)
{
	char	 s[] = "48656c6c6f2C20776f726c64";
	size_t	 bad;

	ck_assert_int_eq(ctl_fmt_unhex(s, strlen(s), (unsigned char *)s, &bad),
	    0);
	ck_assert_mem_eq(s, "Hello, world", 12);
}
END_TEST

START_TEST(unhex_bad)
{
	static const struct {
		const char	*s;
		size_t		 bad;
	} cases[] = {
		{ "zz", 0 },		/* the first of a pair */
		{ "0z", 1 },		/* the second of a pair */
		{ "00 1", 2 },		/* a space is no digit */
		{ "0g00", 1 },
		{ "00112g", 5 },
		{ "abc", 3 },		/* odd: the length */
		{ "a", 1 },
		{ "abz", 2 },		/* odd, but a stray non-digit first */
		{ "zzz", 0 },		/* the first error, not the length */
		{ "0x00", 1 },		/* no C prefix */
		{ "\xff" "0", 0 },
	};
	unsigned char	 out[8];
	size_t		 i, bad;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bad = 99;
		ck_assert_msg(ctl_fmt_unhex(cases[i].s, strlen(cases[i].s), out,
		    &bad) == -1, "\"%s\" accepted", cases[i].s);
		ck_assert_msg(bad == cases[i].bad, "\"%s\": bad %zu, expected "
		    "%zu", cases[i].s, bad, cases[i].bad);
	}
}
END_TEST

/* --------------------------------------------------------------- trim */

static void
expect_trim(const char *in, const char *want)
{
	const char	*s = in;
	size_t		 n = strlen(in);

	ctl_fmt_trim(&s, &n);
	ck_assert_msg(n == strlen(want) && memcmp(s, want, n) == 0,
	    "trim(\"%s\") gave \"%.*s\", expected \"%s\"", in, (int)n, s,
	    want);
}

START_TEST(trim)
{
	expect_trim("", "");
	expect_trim("abc", "abc");
	expect_trim("  0a0b\n\n", "0a0b");
	expect_trim("\t\v\f\r a b \r\n", "a b");
	expect_trim(" \n\t ", "");
	expect_trim("x", "x");
	/* Only ASCII whitespace: not NUL, not 0xa0. */
	expect_trim("\xa0x\xa0", "\xa0x\xa0");
}
END_TEST

START_TEST(trim_nul)
{
	const char	*s = " \0 x";
	size_t		 n = 4;

	ctl_fmt_trim(&s, &n);
	ck_assert_uint_eq(n, 3);
	ck_assert_mem_eq(s, "\0 x", 3);
}
END_TEST

/* ----------------------------------------------------------- cescape */

START_TEST(cescape_classes)
{
	CESC("", "");
	CESC("\x00", "\\x00");
	CESC("\t", "\\t");
	CESC("\n", "\\n");
	CESC("\\", "\\\\");
	CESC("\x7f", "\\x7f");
	CESC("\x80", "\\x80");
	CESC("\xff", "\\xff");
	CESC("\r", "\\x0d");
	CESC("\a\b\v\f", "\\x07\\x08\\x0b\\x0c");
	CESC("\x1f", "\\x1f");
	CESC(" ", " ");
	CESC("\"", "\"");
	CESC("'?", "'?");
	CESC("abc XYZ 019 ~!#{}", "abc XYZ 019 ~!#{}");
	/* Runs of plain bytes between escapes keep their order. */
	CESC("a\tb\nc\\d\xffz", "a\\tb\\nc\\\\d\\xffz");
	CESC("\\x41", "\\\\x41");
	/* UTF-8 is bytes outside printable ASCII too. */
	CESC("\xc3\xa9", "\\xc3\\xa9");
}
END_TEST

/* Decodes s (n bytes) as ctl_fmt_put_cescape writes it; -1 if it cannot. */
static int
uncescape(const char *s, size_t n, unsigned char *out, size_t *len)
{
	size_t	 i, bad;

	*len = 0;
	for (i = 0; i < n; i++) {
		if (s[i] != '\\') {
			out[(*len)++] = (unsigned char)s[i];
			continue;
		}
		if (++i == n)
			return -1;
		if (s[i] == 't')
			out[(*len)++] = '\t';
		else if (s[i] == 'n')
			out[(*len)++] = '\n';
		else if (s[i] == '\\')
			out[(*len)++] = '\\';
		else if (s[i] == 'x' && i + 2 < n &&
		    ctl_fmt_unhex(s + i + 1, 2, out + *len, &bad) == 0) {
			(*len)++;
			i += 2;
		} else
			return -1;
	}
	return 0;
}

START_TEST(cescape_every_byte)
{
	unsigned char	 in[256], back[256];
	char		*got;
	size_t		 len, blen, i, plain = 0;

	for (i = 0; i < 256; i++) {
		in[i] = (unsigned char)i;
		if (i >= 0x20 && i <= 0x7e && i != '\\')
			plain++;
	}
	got = capture(ctl_fmt_put_cescape, in, sizeof(in), &len);
	/* Plain bytes take 1, \t \n \\ take 2, the rest \xNN 4. */
	ck_assert_uint_eq(len, plain + 3 * 2 + (256 - plain - 3) * 4);
	for (i = 0; i < len; i++)
		ck_assert_msg(got[i] >= 0x20 && got[i] <= 0x7e,
		    "byte 0x%02x at %zu is not printable", got[i], i);
	ck_assert_int_eq(uncescape(got, len, back, &blen), 0);
	ck_assert_uint_eq(blen, 256);
	ck_assert_mem_eq(back, in, 256);
	free(got);
}
END_TEST

START_TEST(cescape_long)
{
	unsigned char	*in;
	char		*got;
	size_t		 n = 3 * 8192 + 7, len, i;

	/* Longer than the writer's buffer, with escapes across its edges. */
	in = malloc(n);
	ck_assert_ptr_nonnull(in);
	for (i = 0; i < n; i++)
		in[i] = i % 5 == 0 ? 0xff : 'a';
	got = capture(ctl_fmt_put_cescape, in, n, &len);
	ck_assert_uint_eq(len, n + 3 * ((n + 4) / 5));
	for (i = 0; i < n; i++)
		ck_assert_msg(memcmp(got + i + 3 * ((i + 4) / 5),
		    i % 5 == 0 ? "\\xff" : "a", i % 5 == 0 ? 4 : 1) == 0,
		    "byte %zu", i);
	free(got);
	free(in);
}
END_TEST

START_TEST(cescape_buffer)
{
	char	 out[16];

	memset(out, 'X', sizeof(out));
	ck_assert_uint_eq(ctl_fmt_cescape(out, sizeof(out), "a\tb", 3), 3);
	ck_assert_str_eq(out, "a\\tb");
	ck_assert_uint_eq(ctl_fmt_cescape(out, sizeof(out), "", 0), 0);
	ck_assert_str_eq(out, "");
	/* Only whole escapes: "\xff" never cut to "\xf". */
	ck_assert_uint_eq(ctl_fmt_cescape(out, 8, "ab\xff\xff", 4), 3);
	ck_assert_str_eq(out, "ab\\xff");
	ck_assert_uint_eq(ctl_fmt_cescape(out, 8, "abcdefghij", 10), 4);
	ck_assert_str_eq(out, "abcd");
	/* Too small for any escape: empty, nothing used. */
	ck_assert_uint_eq(ctl_fmt_cescape(out, 4, "abc", 3), 0);
	ck_assert_str_eq(out, "");
	ck_assert_uint_eq(ctl_fmt_cescape(out, 5, "\\", 1), 1);
	ck_assert_str_eq(out, "\\\\");
	out[0] = 'X';
	ck_assert_uint_eq(ctl_fmt_cescape(out, 0, "abc", 3), 0);
	ck_assert_int_eq(out[0], 'X');
}
END_TEST

/* -------------------------------------------------------------- json */

START_TEST(json_plain)
{
	JSON("", "\"\"");
	JSON("refs", "\"refs\"");
	JSON("a b/c", "\"a b/c\"");
	JSON("\"", "\"\\\"\"");
	JSON("\\", "\"\\\\\"");
	JSON("\x7f", "\"\x7f\"");
}
END_TEST

START_TEST(json_control)
{
	JSON("\n", "\"\\n\"");
	JSON("\t", "\"\\t\"");
	JSON("\r", "\"\\r\"");
	JSON("\x00", "\"\\u0000\"");
	JSON("\x01", "\"\\u0001\"");
	JSON("\x1f", "\"\\u001f\"");
	JSON("\b\f", "\"\\u0008\\u000c\"");
	JSON("a\x00z", "\"a\\u0000z\"");
}
END_TEST

START_TEST(json_utf8_valid)
{
	JSON("\xc3\xa9", "\"\xc3\xa9\"");			/* U+00E9 */
	JSON("\xc2\x80", "\"\xc2\x80\"");			/* U+0080 */
	JSON("\xdf\xbf", "\"\xdf\xbf\"");			/* U+07FF */
	JSON("\xe0\xa0\x80", "\"\xe0\xa0\x80\"");		/* U+0800 */
	JSON("\xe2\x82\xac", "\"\xe2\x82\xac\"");		/* U+20AC */
	JSON("\xed\x9f\xbf", "\"\xed\x9f\xbf\"");		/* U+D7FF */
	JSON("\xef\xbf\xbf", "\"\xef\xbf\xbf\"");		/* U+FFFF */
	JSON("\xf0\x90\x80\x80", "\"\xf0\x90\x80\x80\"");	/* U+10000 */
	JSON("\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\"");	/* U+1F600 */
	JSON("\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\"");	/* U+10FFFF */
}
END_TEST

#define FFFD	"\\ufffd"

START_TEST(json_utf8_invalid)
{
	JSON("\x80", "\"" FFFD "\"");			/* lone continuation */
	JSON("\xbf", "\"" FFFD "\"");
	JSON("\xff", "\"" FFFD "\"");
	JSON("\xfe", "\"" FFFD "\"");
	JSON("\xc0\x80", "\"" FFFD FFFD "\"");		/* overlong NUL */
	JSON("\xc1\xbf", "\"" FFFD FFFD "\"");
	JSON("\xe0\x80\x80", "\"" FFFD FFFD FFFD "\"");	/* overlong */
	JSON("\xed\xa0\x80", "\"" FFFD FFFD FFFD "\"");	/* surrogate */
	JSON("\xf0\x80\x80\x80", "\"" FFFD FFFD FFFD FFFD "\"");
	JSON("\xf4\x90\x80\x80", "\"" FFFD FFFD FFFD FFFD "\""); /* >10FFFF */
	JSON("\xf5\x80\x80\x80", "\"" FFFD FFFD FFFD FFFD "\"");
	/* Cut short, at the end and before an ASCII byte. */
	JSON("\xe2\x82", "\"" FFFD FFFD "\"");
	JSON("\xe2\x82z", "\"" FFFD FFFD "z\"");
	JSON("\xf0\x9f\x98", "\"" FFFD FFFD FFFD "\"");
	JSON("\xc3", "\"" FFFD "\"");
	/* A bad byte does not take good ones with it. */
	JSON("a\xff\xc3\xa9\"", "\"a" FFFD "\xc3\xa9\\\"\"");
}
END_TEST

/* ------------------------------------------------------ stream errors */

START_TEST(writers_report_failure)
{
	FILE	*f;

	/* A stream open for reading only refuses every write. */
	f = fopen("/dev/null", "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(ctl_fmt_put_hex(f, "ab", 2), -1);
	ck_assert_int_eq(ctl_fmt_put_cescape(f, "ab", 2), -1);
	ck_assert_int_eq(ctl_fmt_put_cescape(f, "\t", 1), -1);
	ck_assert_int_eq(ctl_fmt_put_json_str(f, "ab", 2), -1);
	ck_assert_int_eq(ctl_fmt_put_json_str(f, "", 0), -1);
	fclose(f);
}
END_TEST

/* ------------------------------------------------------------- stats */

typedef void	(*stats_fn)(FILE *, const sc_stats *);

/* Checks that w writes exactly want for s. */
static void
expect_stats(stats_fn w, const sc_stats *s, const char *want)
{
	FILE	*f;
	char	*got = NULL;
	size_t	 len = 0;

	f = open_memstream(&got, &len);
	ck_assert_ptr_nonnull(f);
	w(f, s);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_msg(len == strlen(want) && memcmp(got, want, len) == 0,
	    "wrote\n%.*s\nexpected\n%s", (int)len, got, want);
	free(got);
}

/* Two envs, one of a fixed path, with names to escape; a db. */
static sc_counter	 daemon_c[] = { { "uptime_s", 7 },
			     { "connections", 2 } };
static sc_counter	 env_c[] = { { "map_size", 1048576 } };
static sc_counter	 db_c[] = { { "entries", 3 } };
static sc_stats_db	 dbs[] = { { "n\"b", db_c, 1 } };
static sc_stats_env	 envs[] = {
	{ "ox/mnist", "refs", "/d/a b", env_c, 1, dbs, 1 },
	{ NULL, "fix\tme", "/f", NULL, 0, NULL, 0 },
};
static const sc_stats	 stats = { daemon_c, 2, envs, 2 };

START_TEST(stats_text)
{
	expect_stats(ctl_fmt_stats_text, &stats,
	    "daemon\n"
	    "  uptime_s                 7\n"
	    "  connections              2\n"
	    "env refs (repo ox/mnist)\n"
	    "  dir                      /d/a b\n"
	    "  map_size                 1048576\n"
	    "  db n\"b\n"
	    "    entries                3\n"
	    "env fix\\tme (fixed path)\n"
	    "  dir                      /f\n");
}
END_TEST

START_TEST(stats_json)
{
	expect_stats(ctl_fmt_stats_json, &stats,
	    "{\"daemon\":{\"uptime_s\":7,\"connections\":2},\"envs\":["
	    "{\"repo\":\"ox/mnist\",\"store\":\"refs\",\"dir\":\"/d/a b\","
	    "\"counters\":{\"map_size\":1048576},\"dbs\":[{\"name\":\"n\\\"b\","
	    "\"counters\":{\"entries\":3}}]},"
	    "{\"repo\":null,\"store\":\"fix\\tme\",\"dir\":\"/f\","
	    "\"counters\":{},\"dbs\":[]}]}\n");
}
END_TEST

static Suite *
ctl_fmt_suite(void)
{
	Suite	*s = suite_create("ctl_fmt");
	TCase	*tc;

	tc = tcase_create("hex");
	tcase_add_test(tc, hex_encode);
	tcase_add_test(tc, hex_put);
	tcase_add_test(tc, unhex_valid);
	tcase_add_test(tc, unhex_in_place);
	tcase_add_test(tc, unhex_bad);
	suite_add_tcase(s, tc);

	tc = tcase_create("trim");
	tcase_add_test(tc, trim);
	tcase_add_test(tc, trim_nul);
	suite_add_tcase(s, tc);

	tc = tcase_create("cescape");
	tcase_add_test(tc, cescape_classes);
	tcase_add_test(tc, cescape_every_byte);
	tcase_add_test(tc, cescape_long);
	tcase_add_test(tc, cescape_buffer);
	suite_add_tcase(s, tc);

	tc = tcase_create("json");
	tcase_add_test(tc, json_plain);
	tcase_add_test(tc, json_control);
	tcase_add_test(tc, json_utf8_valid);
	tcase_add_test(tc, json_utf8_invalid);
	suite_add_tcase(s, tc);

	tc = tcase_create("stats");
	tcase_add_test(tc, stats_text);
	tcase_add_test(tc, stats_json);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_test(tc, writers_report_failure);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(ctl_fmt_suite());
}
