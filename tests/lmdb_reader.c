/*
 * lmdb-reader: another LMDB program holding a read transaction open on an
 * env storesd serves, the way a forgotten mdb_dump or a stuck process
 * would.  It pins the snapshot and, with it, every page freed after it.
 *
 *	lmdb-reader ENV_DIR
 *
 * Opens ENV_DIR read-only, begins a read transaction, prints its txnid
 * and a newline on stdout, and holds the transaction until stdin reaches
 * end of file.  Exits 0, or 1 with a message when LMDB refuses.
 */
#include <stdio.h>

#include <lmdb.h>

int
main(int argc, char **argv)
{
	MDB_env	*env = NULL;
	MDB_txn	*txn = NULL;
	int	 rc, ch;

	if (argc != 2) {
		fprintf(stderr, "usage: lmdb-reader ENV_DIR\n");
		return 2;
	}
	if ((rc = mdb_env_create(&env)) != 0 ||
	    (rc = mdb_env_open(env, argv[1], MDB_RDONLY, 0)) != 0 ||
	    (rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0)
		goto fail;
	printf("%zu\n", mdb_txn_id(txn));
	fflush(stdout);
	while ((ch = getchar()) != EOF)
		;
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return 0;
fail:
	fprintf(stderr, "lmdb-reader: %s: %s\n", argv[1], mdb_strerror(rc));
	if (env != NULL)
		mdb_env_close(env);
	return 1;
}
