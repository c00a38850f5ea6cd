/*
 * lmdb-writer: another LMDB program writing to an env storesd serves, the
 * way mdb_load, a migration script or a second daemon would.
 *
 *	lmdb-writer ENV_DIR MAP_SIZE KIB [hold]
 *
 * Opens ENV_DIR with a map of MAP_SIZE bytes (growing the env's map when
 * that is more than the env had), begins a write transaction and puts
 * KIB values of 1 KiB into the main db (keys "grow00000000", ...).  With
 * hold, it then prints "held" and a newline on stdout and keeps the
 * transaction, with LMDB's writer lock, until stdin reaches end of file.
 * Then it commits.  Exits 0, or 1 with a message when LMDB refuses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

int
main(int argc, char **argv)
{
	MDB_env	*env = NULL;
	MDB_txn	*txn = NULL;
	MDB_dbi	 dbi;
	MDB_val	 k, v;
	char	 key[32], val[1024];
	long	 i, n;
	int	 rc, ch;

	if (argc < 4 || argc > 5 || (argc == 5 && strcmp(argv[4], "hold"))) {
		fprintf(stderr, "usage: lmdb-writer ENV_DIR MAP_SIZE KIB "
		    "[hold]\n");
		return 2;
	}
	n = atol(argv[3]);
	memset(val, 'g', sizeof(val));
	if ((rc = mdb_env_create(&env)) != 0 ||
	    (rc = mdb_env_set_mapsize(env, strtoull(argv[2], NULL, 10))) != 0 ||
	    (rc = mdb_env_open(env, argv[1], 0, 0600)) != 0 ||
	    (rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0 ||
	    (rc = mdb_dbi_open(txn, NULL, 0, &dbi)) != 0)
		goto fail;
	for (i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "grow%08ld", i);
		k.mv_data = key;
		k.mv_size = strlen(key);
		v.mv_data = val;
		v.mv_size = sizeof(val);
		if ((rc = mdb_put(txn, dbi, &k, &v, 0)) != 0)
			goto fail;
	}
	if (argc == 5) {
		printf("held\n");
		fflush(stdout);
		while ((ch = getchar()) != EOF)
			;
	}
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc != 0)
		goto fail;
	mdb_env_close(env);
	return 0;
fail:
	fprintf(stderr, "lmdb-writer: %s: %s\n", argv[1], mdb_strerror(rc));
	if (txn != NULL)
		mdb_txn_abort(txn);
	if (env != NULL)
		mdb_env_close(env);
	return 1;
}
