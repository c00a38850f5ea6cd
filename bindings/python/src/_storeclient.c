/*
 * storeclient._storeclient: the CPython extension over libstoreclient.
 *
 * Owns: the Python types Client, Batch, Scan, Watch (and its Event) and
 * Pipeline, the exception classes (one per stable code a caller branches
 * on), and the mapping of Python arguments onto libstoreclient calls.  The wire format is not
 * here: every request goes through client/storeclient.h.
 *
 * Threads.  Every call that can wait on storesd releases the GIL.  A
 * connection is used by one thread at a time (the C library's rule): a
 * Client records that a call is running on it, and a second thread that
 * calls in meanwhile gets RuntimeError instead of corrupting it.
 *
 * Lifetimes.  Batches, scans, watches and pipelines hold a reference to
 * their Client.  close() on a Client with batches, scans or watches still
 * alive marks it closed at once (every later call raises ConnectionError)
 * and frees the C connection when the last of them goes.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <limits.h>
#include <stdint.h>
#include <string.h>

#include <storeclient.h>

/* -------------------------------------------------------------- errors */

static PyObject *Error;		/* storeclient.Error */

/*
 * The exception classes: one row per class, parents before children.
 * codes lists the library codes raised as that class (0 ends it).
 */
static struct exc_row {
	const char	*name;
	int		 parent;	/* row index, -1: Error itself */
	PyObject	**builtin;	/* a builtin base too, or NULL */
	int		 codes[4];
	const char	*doc;
	PyObject	*type;
} exc_rows[] = {
	{ "NotFound", -1, NULL, { SC_ERR_NOT_FOUND },
	  "No such key, db or env (get() returns None instead).", NULL },
	{ "BadRequest", -1, NULL, { SC_ERR_BAD_REQUEST },
	  "storesd did not accept the request.", NULL },
	{ "UnknownStore", -1, NULL, { SC_ERR_UNKNOWN_STORE },
	  "No store of that name is configured.", NULL },
	{ "UnknownDb", -1, NULL, { SC_ERR_UNKNOWN_DB },
	  "The store has no db of that name.", NULL },
	{ "BadRepo", -1, NULL, { SC_ERR_BAD_REPO },
	  "An invalid repo name, or a repo for a fixed-path store.", NULL },
	{ "BadKey", -1, NULL, { SC_ERR_BAD_KEY },
	  "A key that is empty or over 511 bytes.", NULL },
	{ "MapFull", -1, NULL, { SC_ERR_MAP_FULL },
	  "The store's map is full; raise its map_size and reload storesd.",
	  NULL },
	{ "TooLarge", -1, NULL, { SC_ERR_TOO_LARGE },
	  "The request is over storesd's max_frame (or max_batch).", NULL },
	{ "Busy", -1, NULL, { SC_ERR_BUSY },
	  "storesd cannot take this now; retry.", NULL },
	{ "Forbidden", -1, &PyExc_PermissionError, { SC_ERR_FORBIDDEN },
	  "The store's readers or writers leave this user out.", NULL },
	{ "InternalError", -1, NULL, { SC_ERR_INTERNAL },
	  "storesd failed; see its log.", NULL },
	{ "BadVersion", -1, NULL, { SC_ERR_BAD_VERSION },
	  "storesd does not speak this library's protocol version.", NULL },
	{ "Exists", -1, NULL, { SC_ERR_EXISTS },
	  "A fork's destination exists.", NULL },
	{ "DiskError", -1, NULL, { SC_ERR_IO_ERROR },
	  "storesd's disk failed (full, read-only, EIO).", NULL },
	{ "CondFailed", -1, NULL, { SC_ERR_COND_FAILED },
	  "A write's precondition did not hold; nothing changed.", NULL },
	{ "ConnectionError", -1, &PyExc_ConnectionError,
	  { SC_ERR_CONNECT, SC_ERR_IO, SC_ERR_PROTOCOL },
	  "storesd cannot be reached or the connection broke: the connection "
	  "is dead; connect again.", NULL },
	{ "Timeout", 15, &PyExc_TimeoutError, { SC_ERR_TIMEOUT },
	  "No reply within the connection's timeout: the connection is dead.",
	  NULL },
	{ "InvalidArgument", -1, &PyExc_ValueError, { SC_ERR_INVALID },
	  "A call the library refused: a bad argument, or one made while a "
	  "pipeline or a batch is pending on the connection.", NULL },
	{ "OutOfMemory", -1, &PyExc_MemoryError, { SC_ERR_NOMEM },
	  "Out of memory.", NULL },
	{ "Limit", -1, NULL, { SC_ERR_LIMIT },
	  "The connection's max_inflight or max_queued is reached: collect "
	  "replies, then retry (the connection stays usable).", NULL },
	/* Appended: rows refer to their parent by index (Timeout). */
	{ "Corrupt", -1, NULL, { SC_ERR_CORRUPT },
	  "The env's data.mdb is damaged; storesd refuses that env until it "
	  "is restored from a snapshot.", NULL },
	{ "FdError", -1, NULL, { SC_ERR_FD_ERROR },
	  "The descriptor passed with a snapshot failed (its reader went "
	  "away, its file system is full, it stopped taking bytes within "
	  "snapshot_timeout, or it took longer than snapshot_max_time).",
	  NULL },
	{ "NoRepo", -1, NULL, { SC_ERR_NO_REPO },
	  "The store has create = explicit and the repository has no env "
	  "for it: create it first.", NULL },
	{ "Compacted", -1, NULL, { SC_ERR_COMPACTED },
	  "A watch asked for a revision no longer kept in history.", NULL },
	{ "Resync", -1, NULL, { SC_ERR_RESYNC },
	  "Another program wrote the env under a watch: read it again.",
	  NULL },
	{ "WatchOverflow", -1, NULL, { SC_ERR_WATCH_OVERFLOW },
	  "A watch on a store without history fell behind its buffer.",
	  NULL },
	{ "NoRoom", -1, NULL, { SC_ERR_NO_ROOM },
	  "A compacting snapshot would leave the data disk less free than "
	  "snapshot_reserve: take a plain snapshot, or free space there.",
	  NULL },
};
#define NEXC		(sizeof(exc_rows) / sizeof(exc_rows[0]))

static PyObject *
exc_type(int code)
{
	size_t	 i, j;

	for (i = 0; i < NEXC; i++)
		for (j = 0; j < 4 && exc_rows[i].codes[j] != 0; j++)
			if (exc_rows[i].codes[j] == code)
				return exc_rows[i].type;
	return Error;
}

/* Builds the exception for code with msg; index SC_NOINDEX: none. */
static PyObject *
exc_new(int code, const char *msg, size_t index)
{
	PyObject	*type, *exc, *v;

	type = exc_type(code);
	if ((exc = PyObject_CallFunction(type, "s", msg)) == NULL)
		return NULL;
	if ((v = PyUnicode_FromString(sc_errname(code))) == NULL ||
	    PyObject_SetAttrString(exc, "code", v) == -1)
		goto fail;
	Py_DECREF(v);
	if ((v = PyLong_FromLong(code)) == NULL ||
	    PyObject_SetAttrString(exc, "number", v) == -1)
		goto fail;
	Py_DECREF(v);
	v = index == SC_NOINDEX ? Py_NewRef(Py_None) :
	    PyLong_FromSize_t(index);
	if (v == NULL || PyObject_SetAttrString(exc, "index", v) == -1)
		goto fail;
	Py_DECREF(v);
	/* raise_conn() sets BUSY's hint. */
	v = NULL;
	if (PyObject_SetAttrString(exc, "retry_ms", Py_None) == -1)
		goto fail;
	return exc;
fail:
	Py_XDECREF(v);
	Py_DECREF(exc);
	return NULL;
}

static PyObject *
raise_code(int code, const char *msg, size_t index)
{
	PyObject	*exc;

	if ((exc = exc_new(code, msg, index)) != NULL) {
		PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
		Py_DECREF(exc);
	}
	return NULL;
}

/* Raises the last failure of c, with BUSY's retry hint; returns NULL. */
static PyObject *
raise_conn(const sc_conn *c)
{
	PyObject	*exc, *v;
	int64_t		 ms = sc_errretry_ms(c);

	if ((exc = exc_new(sc_errcode(c), sc_errmsg(c), sc_errindex(c))) ==
	    NULL)
		return NULL;
	v = ms < 0 ? Py_NewRef(Py_None) : PyLong_FromLongLong(ms);
	if (v != NULL && PyObject_SetAttrString(exc, "retry_ms", v) == 0)
		PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
	Py_XDECREF(v);
	Py_DECREF(exc);
	return NULL;
}

static int
exc_init(PyObject *m)
{
	PyObject	*bases, *parent;
	char		 qual[96];
	size_t		 i;

	Error = PyErr_NewExceptionWithDoc("storeclient.Error",
	    "A failure reported by storesd or libstoreclient.  .code is the "
	    "stable code name (\"COND_FAILED\"), .number its number, .index "
	    "the element at fault (a batch op, a key) or None, .retry_ms for "
	    "BUSY storesd's hint of how long to wait before retrying (ms) or "
	    "None.", NULL, NULL);
	if (Error == NULL || PyModule_AddObjectRef(m, "Error", Error) == -1)
		return -1;
	for (i = 0; i < NEXC; i++) {
		parent = exc_rows[i].parent < 0 ? Error :
		    exc_rows[exc_rows[i].parent].type;
		bases = exc_rows[i].builtin != NULL ?
		    PyTuple_Pack(2, parent, *exc_rows[i].builtin) :
		    PyTuple_Pack(1, parent);
		if (bases == NULL)
			return -1;
		snprintf(qual, sizeof(qual), "storeclient.%s",
		    exc_rows[i].name);
		exc_rows[i].type = PyErr_NewExceptionWithDoc(qual,
		    exc_rows[i].doc, bases, NULL);
		Py_DECREF(bases);
		if (exc_rows[i].type == NULL ||
		    PyModule_AddObjectRef(m, exc_rows[i].name,
		    exc_rows[i].type) == -1)
			return -1;
	}
	return 0;
}

/* ---------------------------------------------------------- arguments */

/* A key or value: a bytes-like object's buffer, or a str's UTF-8. */
struct arg_bytes {
	Py_buffer	 view;
	int		 held;		/* view must be released */
	const void	*p;
	size_t		 n;
};

static void
bytes_release(struct arg_bytes *b)
{
	if (b->held)
		PyBuffer_Release(&b->view);
	b->held = 0;
}

static int
bytes_fill(PyObject *o, struct arg_bytes *b, int str_ok)
{
	Py_ssize_t	 n;

	b->held = 0;
	if (PyUnicode_Check(o)) {
		if (!str_ok) {
			PyErr_SetString(PyExc_TypeError,
			    "values are bytes; encode the str first");
			return 0;
		}
		if ((b->p = PyUnicode_AsUTF8AndSize(o, &n)) == NULL)
			return 0;
		b->n = (size_t)n;
		return 1;
	}
	if (PyObject_GetBuffer(o, &b->view, PyBUF_SIMPLE) == -1) {
		PyErr_Format(PyExc_TypeError, "expected bytes%s, not %.100s",
		    str_ok ? " or str" : "", Py_TYPE(o)->tp_name);
		return 0;
	}
	b->held = 1;
	b->p = b->view.buf;
	b->n = (size_t)b->view.len;
	return 1;
}

/* "O&" converters, with cleanup on a later argument's failure. */
static int
conv_key(PyObject *o, void *p)
{
	if (o == NULL) {
		bytes_release(p);
		return 1;
	}
	return bytes_fill(o, p, 1) ? Py_CLEANUP_SUPPORTED : 0;
}

static int
conv_value(PyObject *o, void *p)
{
	if (o == NULL) {
		bytes_release(p);
		return 1;
	}
	return bytes_fill(o, p, 0) ? Py_CLEANUP_SUPPORTED : 0;
}

/* Like conv_value, None leaving it absent (p NULL). */
static int
conv_opt_value(PyObject *o, void *p)
{
	struct arg_bytes	*b = p;

	if (o == Py_None) {
		b->held = 0;
		b->p = NULL;
		b->n = 0;
		return 1;
	}
	return conv_value(o, p);
}

/* Like conv_key, None leaving it absent. */
static int
conv_opt_key(PyObject *o, void *p)
{
	struct arg_bytes	*b = p;

	if (o == Py_None) {
		b->held = 0;
		b->p = NULL;
		b->n = 0;
		return 1;
	}
	return conv_key(o, p);
}

/* A list of keys: a sequence's items as sc_bytes. */
struct arg_keys {
	PyObject		*seq;	/* PySequence_Fast of the argument */
	struct arg_bytes	*items;
	sc_bytes		*keys;
	size_t			 n;
};

static void
keys_release(struct arg_keys *k)
{
	size_t	 i;

	for (i = 0; i < k->n; i++)
		bytes_release(&k->items[i]);
	PyMem_Free(k->items);
	PyMem_Free(k->keys);
	Py_XDECREF(k->seq);
	memset(k, 0, sizeof(*k));
}

static int
keys_fill(PyObject *o, struct arg_keys *k)
{
	Py_ssize_t	 n, i;

	memset(k, 0, sizeof(*k));
	if (PyUnicode_Check(o) || PyBytes_Check(o) || PyByteArray_Check(o)) {
		PyErr_SetString(PyExc_TypeError, "keys is a sequence of keys, "
		    "not one key");
		return -1;
	}
	if ((k->seq = PySequence_Fast(o, "keys must be iterable")) == NULL)
		return -1;
	n = PySequence_Fast_GET_SIZE(k->seq);
	k->items = PyMem_Calloc(n ? (size_t)n : 1, sizeof(*k->items));
	k->keys = PyMem_Calloc(n ? (size_t)n : 1, sizeof(*k->keys));
	if (k->items == NULL || k->keys == NULL) {
		PyErr_NoMemory();
		goto fail;
	}
	for (i = 0; i < n; i++) {
		if (!bytes_fill(PySequence_Fast_GET_ITEM(k->seq, i),
		    &k->items[i], 1))
			goto fail;
		k->n = (size_t)i + 1;
		k->keys[i].p = k->items[i].p;
		k->keys[i].n = k->items[i].n;
	}
	k->n = (size_t)n;
	return 0;
fail:
	keys_release(k);
	return -1;
}

/* ------------------------------------------------------------- Client */

typedef struct {
	PyObject_HEAD
	sc_conn		*c;		/* NULL once freed */
	int		 closed;	/* close() was called */
	int		 busy;		/* a call is running (GIL released) */
	Py_ssize_t	 children;	/* batches and scans alive */
} ClientObject;

static PyTypeObject ClientType;
static PyTypeObject BatchType;
static PyTypeObject ScanType;
static PyTypeObject PipelineType;
static PyTypeObject WatchType;

/*
 * Takes c for one call: refuses a closed client, and one that another
 * thread is using.  Every successful enter is paired with leave().
 */
static int
enter(ClientObject *self)
{
	if (self->closed) {
		raise_code(SC_ERR_IO, "the connection is closed; connect "
		    "again", SC_NOINDEX);
		return -1;
	}
	if (self->busy) {
		PyErr_SetString(PyExc_RuntimeError, "this connection is in "
		    "use by another thread; use one connection per thread");
		return -1;
	}
	self->busy = 1;
	return 0;
}

static void
leave(ClientObject *self)
{
	self->busy = 0;
}

/* Frees the C connection once closed and nothing else uses it. */
static void
client_release(ClientObject *self)
{
	if (self->closed && self->children == 0 && self->c != NULL) {
		sc_conn	*c = self->c;

		self->c = NULL;
		Py_BEGIN_ALLOW_THREADS
		sc_close(c);
		Py_END_ALLOW_THREADS
	}
}

/*
 * Connects with the options given.  The only use of sc_options, so that
 * a change of how options are passed is made here alone.  Returns the
 * connection (its error says whether it works), or NULL when out of
 * memory.
 */
static sc_conn *
conn_open(const char *path, int timeout_ms, const char *name,
    size_t max_inflight, size_t max_queued)
{
	sc_options	*o;
	sc_conn		*c = NULL;

	if ((o = sc_options_new()) == NULL)
		return NULL;
	if (sc_options_set_path(o, path) == 0 &&
	    sc_options_set_timeout(o, timeout_ms) == 0 &&
	    sc_options_set_client_name(o, name) == 0 &&
	    sc_options_set_max_inflight(o, max_inflight) == 0 &&
	    sc_options_set_max_queued(o, max_queued) == 0) {
		Py_BEGIN_ALLOW_THREADS
		c = sc_connect_opts(o);
		Py_END_ALLOW_THREADS
	}
	sc_options_free(o);
	return c;
}

PyDoc_STRVAR(connect_doc,
"connect(socket=None, *, timeout=None, client_name=None, max_inflight=0,\n"
"        max_queued=0) -> Client\n\n"
"Connects to storesd at socket (None: the default socket, as storesd's\n"
"own rule says).  timeout is seconds per call (None: wait as long as it\n"
"takes); past it the call raises Timeout and the connection is dead.\n"
"max_inflight and max_queued (0: no bound) bound a pipeline's requests\n"
"awaiting replies and bytes not yet sent: past them a queued request\n"
"raises Limit.\n"
"Raises ConnectionError when nobody answers, Busy when storesd has\n"
"max_connections open, BadVersion.");

static PyObject *
mod_connect(PyObject *mod, PyObject *args, PyObject *kw)
{
	static char	*kwlist[] = { "socket", "timeout", "client_name",
			    "max_inflight", "max_queued", NULL };
	Py_ssize_t	 max_inflight = 0, max_queued = 0;
	PyObject	*sock = Py_None, *timeout = Py_None, *bpath = NULL;
	const char	*name = NULL, *path = NULL;
	ClientObject	*self;
	sc_conn		*c;
	double		 t;
	int		 ms = 0;

	(void)mod;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|O$Oznn:connect", kwlist,
	    &sock, &timeout, &name, &max_inflight, &max_queued))
		return NULL;
	if (max_inflight < 0 || max_queued < 0) {
		PyErr_SetString(PyExc_ValueError, "max_inflight and max_queued "
		    "are >= 0 (0: no bound)");
		return NULL;
	}
	if (sock != Py_None) {
		if (!PyUnicode_FSConverter(sock, &bpath))
			return NULL;
		path = PyBytes_AS_STRING(bpath);
	}
	if (timeout != Py_None) {
		if ((t = PyFloat_AsDouble(timeout)) == -1.0 &&
		    PyErr_Occurred())
			goto fail;
		if (!(t > 0) || t * 1000 > INT_MAX) {
			PyErr_SetString(PyExc_ValueError, "timeout is seconds, "
			    "over 0 (None: no timeout)");
			goto fail;
		}
		ms = t * 1000 < 1 ? 1 : (int)(t * 1000);
	}
	if ((c = conn_open(path, ms, name, (size_t)max_inflight,
	    (size_t)max_queued)) == NULL) {
		PyErr_NoMemory();
		goto fail;
	}
	if (sc_errcode(c) != SC_OK) {
		raise_conn(c);
		sc_close(c);
		goto fail;
	}
	Py_XDECREF(bpath);
	if ((self = PyObject_New(ClientObject, &ClientType)) == NULL) {
		sc_close(c);
		return NULL;
	}
	self->c = c;
	self->closed = 0;
	self->busy = 0;
	self->children = 0;
	return (PyObject *)self;
fail:
	Py_XDECREF(bpath);
	return NULL;
}

static void
client_dealloc(ClientObject *self)
{
	/* Children hold a reference: none is alive here. */
	if (self->c != NULL)
		sc_close(self->c);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
client_close(ClientObject *self, PyObject *unused)
{
	(void)unused;
	if (self->closed)
		Py_RETURN_NONE;
	if (self->busy) {
		PyErr_SetString(PyExc_RuntimeError, "this connection is in "
		    "use by another thread");
		return NULL;
	}
	self->closed = 1;
	client_release(self);
	Py_RETURN_NONE;
}

static PyObject *
client_enter(ClientObject *self, PyObject *unused)
{
	(void)unused;
	return Py_NewRef(self);
}

static PyObject *
client_exit(ClientObject *self, PyObject *args)
{
	PyObject	*r;

	(void)args;
	if ((r = client_close(self, NULL)) == NULL)
		return NULL;
	Py_DECREF(r);
	Py_RETURN_FALSE;
}

/* Runs call (an expression using c) with the GIL released; on -1 raises
 * the connection's error.  For the methods below. */
#define CALL(self, rc, call) do {					\
	sc_conn	*c = (self)->c;						\
	Py_BEGIN_ALLOW_THREADS						\
	(rc) = (call);							\
	Py_END_ALLOW_THREADS						\
} while (0)

static PyObject *
client_ping(ClientObject *self, PyObject *unused)
{
	int	 rc;

	(void)unused;
	if (enter(self) == -1)
		return NULL;
	CALL(self, rc, sc_ping(c));
	leave(self);
	if (rc == -1)
		return raise_conn(self->c);
	Py_RETURN_NONE;
}

static PyObject *
client_get(ClientObject *self, PyObject *args, PyObject *kw)
{
	static char		*kwlist[] = { "store", "key", "repo", "db",
				    NULL };
	struct arg_bytes	 k;
	const char		*store, *repo = NULL, *db = NULL;
	PyObject		*r = NULL;
	void			*v = NULL;
	size_t			 vn = 0;
	int			 rc;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "sO&|$zz:get", kwlist,
	    &store, conv_key, &k, &repo, &db))
		return NULL;
	if (enter(self) == -1)
		goto out;
	CALL(self, rc, sc_get(c, repo, store, db, k.p, k.n, &v, &vn));
	leave(self);
	if (rc == 0)
		r = PyBytes_FromStringAndSize(v, (Py_ssize_t)vn);
	else if (sc_errcode(self->c) == SC_ERR_NOT_FOUND)
		r = Py_NewRef(Py_None);
	else
		raise_conn(self->c);
	sc_free(v);
out:
	bytes_release(&k);
	return r;
}

static PyObject *
client_put(ClientObject *self, PyObject *args, PyObject *kw)
{
	static char		*kwlist[] = { "store", "key", "value", "repo",
				    "db", "if_absent", "if_equals", NULL };
	struct arg_bytes	 k, v, old = { .p = NULL };
	const char		*store, *repo = NULL, *db = NULL;
	PyObject		*r = NULL;
	int			 absent = 0, rc;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "sO&O&|$zzpO&:put",
	    kwlist, &store, conv_key, &k, conv_value, &v, &repo, &db,
	    &absent, conv_opt_value, &old))
		return NULL;
	if (absent && old.p != NULL) {
		PyErr_SetString(PyExc_ValueError, "if_absent and if_equals "
		    "cannot both hold");
		goto out;
	}
	if (enter(self) == -1)
		goto out;
	if (absent)
		CALL(self, rc, sc_put_if_absent(c, repo, store, db, k.p, k.n,
		    v.p, v.n));
	else if (old.p != NULL)
		CALL(self, rc, sc_put_if_equals(c, repo, store, db, k.p, k.n,
		    old.p, old.n, v.p, v.n));
	else
		CALL(self, rc, sc_put(c, repo, store, db, k.p, k.n, v.p,
		    v.n));
	leave(self);
	if (rc == -1)
		raise_conn(self->c);
	else
		r = Py_NewRef(Py_None);
out:
	bytes_release(&k);
	bytes_release(&v);
	bytes_release(&old);
	return r;
}

static PyObject *
client_delete(ClientObject *self, PyObject *args, PyObject *kw)
{
	static char		*kwlist[] = { "store", "key", "repo", "db",
				    "if_equals", NULL };
	struct arg_bytes	 k, old = { .p = NULL };
	const char		*store, *repo = NULL, *db = NULL;
	PyObject		*r = NULL;
	int			 rc;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "sO&|$zzO&:delete",
	    kwlist, &store, conv_key, &k, &repo, &db, conv_opt_value, &old))
		return NULL;
	if (enter(self) == -1)
		goto out;
	if (old.p != NULL)
		CALL(self, rc, sc_del_if_equals(c, repo, store, db, k.p, k.n,
		    old.p, old.n));
	else
		CALL(self, rc, sc_del(c, repo, store, db, k.p, k.n));
	leave(self);
	if (rc == 0)
		r = Py_NewRef(Py_True);
	else if (sc_errcode(self->c) == SC_ERR_NOT_FOUND)
		r = Py_NewRef(Py_False);
	else
		raise_conn(self->c);
out:
	bytes_release(&k);
	bytes_release(&old);
	return r;
}

/* A list of n items, item i made by item(ctx, i); NULL on failure. */
static PyObject *
list_of(size_t n, PyObject *(*item)(const void *, size_t), const void *ctx)
{
	PyObject	*r, *v;
	size_t		 i;

	if ((r = PyList_New((Py_ssize_t)n)) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if ((v = item(ctx, i)) == NULL) {
			Py_DECREF(r);
			return NULL;
		}
		PyList_SET_ITEM(r, (Py_ssize_t)i, v);
	}
	return r;
}

/* Item i of mget's values: bytes, or None when absent. */
static PyObject *
mget_item(const void *ctx, size_t i)
{
	const sc_bytes	*v = &((const sc_bytes *)ctx)[i];

	if (v->p == NULL)
		return Py_NewRef(Py_None);
	return PyBytes_FromStringAndSize(v->p, (Py_ssize_t)v->n);
}

/* Item i of missing's answer: the key object the caller passed. */
struct missing_ctx {
	PyObject	*seq;
	const size_t	*miss;
};

static PyObject *
missing_item(const void *ctx, size_t i)
{
	const struct missing_ctx *mc = ctx;

	return Py_NewRef(PySequence_Fast_GET_ITEM(mc->seq,
	    (Py_ssize_t)mc->miss[i]));
}

static PyObject *
client_mget(ClientObject *self, PyObject *args, PyObject *kw)
{
	static char	*kwlist[] = { "store", "keys", "repo", "db", NULL };
	struct arg_keys	 ks;
	const char	*store, *repo = NULL, *db = NULL;
	PyObject	*keys, *r = NULL;
	sc_bytes	*vals = NULL;
	int		 rc;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "sO|$zz:mget", kwlist,
	    &store, &keys, &repo, &db))
		return NULL;
	if (keys_fill(keys, &ks) == -1)
		return NULL;
	if (ks.n == 0) {
		keys_release(&ks);
		return PyList_New(0);
	}
	if (enter(self) == -1)
		goto out;
	CALL(self, rc, sc_mget(c, repo, store, db, ks.keys, ks.n, &vals));
	leave(self);
	if (rc == -1)
		raise_conn(self->c);
	else
		r = list_of(ks.n, mget_item, vals);
out:
	sc_free(vals);
	keys_release(&ks);
	return r;
}

static PyObject *
client_missing(ClientObject *self, PyObject *args, PyObject *kw)
{
	static char	*kwlist[] = { "store", "keys", "repo", "db", NULL };
	struct arg_keys	 ks;
	const char	*store, *repo = NULL, *db = NULL;
	struct missing_ctx mc;
	PyObject	*keys, *r = NULL;
	size_t		*miss = NULL, nmiss = 0;
	int		 rc;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "sO|$zz:missing", kwlist,
	    &store, &keys, &repo, &db))
		return NULL;
	if (keys_fill(keys, &ks) == -1)
		return NULL;
	if (ks.n == 0) {
		keys_release(&ks);
		return PyList_New(0);
	}
	if (enter(self) == -1)
		goto out;
	CALL(self, rc, sc_missing(c, repo, store, db, ks.keys, ks.n, &miss,
	    &nmiss));
	leave(self);
	if (rc == -1) {
		raise_conn(self->c);
		goto out;
	}
	/* The keys themselves, as the caller passed them, in their order. */
	mc.seq = ks.seq;
	mc.miss = miss;
	r = list_of(nmiss, missing_item, &mc);
out:
	sc_free(miss);
	keys_release(&ks);
	return r;
}

static PyObject *
client_count(ClientObject *self, PyObject *args, PyObject *kw)
{
	static char	*kwlist[] = { "store", "repo", "db", NULL };
	const char	*store, *repo = NULL, *db = NULL;
	uint64_t	 n = 0;
	int		 rc;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "s|$zz:count", kwlist,
	    &store, &repo, &db))
		return NULL;
	if (enter(self) == -1)
		return NULL;
	CALL(self, rc, sc_count(c, repo, store, db, &n));
	leave(self);
	if (rc == -1)
		return raise_conn(self->c);
	return PyLong_FromUnsignedLongLong(n);
}

static PyObject *
client_snapshot(ClientObject *self, PyObject *args, PyObject *kw)
{
	static char	*kwlist[] = { "store", "file", "repo", "compact",
			    NULL };
	const char	*store, *repo = NULL;
	PyObject	*file, *r;
	uint64_t	 size = 0;
	int		 compact = 0, fd, rc;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "sO|$zp:snapshot", kwlist,
	    &store, &file, &repo, &compact))
		return NULL;
	/* storesd writes to the descriptor: what Python buffered for the
	 * file goes first. */
	if (!PyLong_Check(file) && PyObject_HasAttrString(file, "flush")) {
		if ((r = PyObject_CallMethod(file, "flush", NULL)) == NULL)
			return NULL;
		Py_DECREF(r);
	}
	if ((fd = PyObject_AsFileDescriptor(file)) == -1)
		return NULL;
	if (enter(self) == -1)
		return NULL;
	CALL(self, rc, sc_snapshot(c, repo, store, fd, compact, &size));
	leave(self);
	if (rc == -1)
		return raise_conn(self->c);
	return PyLong_FromUnsignedLongLong(size);
}

static PyObject *
client_fork(ClientObject *self, PyObject *args, PyObject *kw)
{
	static char	*kwlist[] = { "store", "src_repo", "dst_repo", NULL };
	const char	*store, *src, *dst;
	int		 rc;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "sss:fork", kwlist,
	    &store, &src, &dst))
		return NULL;
	if (enter(self) == -1)
		return NULL;
	CALL(self, rc, sc_fork(c, src, store, dst));
	leave(self);
	if (rc == -1)
		return raise_conn(self->c);
	Py_RETURN_NONE;
}

/*
 * d[name] = v.  Unlike PyDict_SetItemString, the key is not interned:
 * counter and db names would otherwise churn the interpreter's table of
 * interned strings on every stats() call.  0 or -1.
 */
static int
dict_set(PyObject *d, const char *name, PyObject *v)
{
	PyObject	*k;
	int		 rc;

	if ((k = PyUnicode_FromString(name)) == NULL)
		return -1;
	rc = PyDict_SetItem(d, k, v);
	Py_DECREF(k);
	return rc;
}

/* {name: value} of n counters. */
static PyObject *
counters_dict(const sc_counter *ct, size_t n)
{
	PyObject	*d, *v;
	size_t		 i;

	if ((d = PyDict_New()) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if ((v = PyLong_FromUnsignedLongLong(ct[i].value)) == NULL ||
		    dict_set(d, ct[i].name, v) == -1) {
			Py_XDECREF(v);
			Py_DECREF(d);
			return NULL;
		}
		Py_DECREF(v);
	}
	return d;
}

/* A dict from "name", value pairs ending with NULL; values are stolen
 * (NULL ones fail it). */
static PyObject *
dict_of(const char *name, ...)
{
	PyObject	*d, *v;
	va_list		 ap;
	int		 ok = 1;

	d = PyDict_New();
	va_start(ap, name);
	for (; name != NULL; name = va_arg(ap, const char *)) {
		v = va_arg(ap, PyObject *);
		if (v == NULL || d == NULL ||
		    dict_set(d, name, v) == -1)
			ok = 0;
		Py_XDECREF(v);
	}
	va_end(ap);
	if (!ok)
		Py_CLEAR(d);
	return d;
}

static PyObject *
str_or_none(const char *s)
{
	return s == NULL ? Py_NewRef(Py_None) : PyUnicode_FromString(s);
}

/* Item i of a stats reply's envs. */
static PyObject *
env_dict(const void *ctx, size_t i)
{
	const sc_stats_env	*e = &((const sc_stats *)ctx)->envs[i];
	PyObject		*dbs, *v;

	if ((dbs = PyDict_New()) == NULL)
		return NULL;
	for (i = 0; i < e->ndbs; i++) {
		if ((v = counters_dict(e->dbs[i].counters,
		    e->dbs[i].ncounters)) == NULL ||
		    dict_set(dbs, e->dbs[i].name, v) == -1) {
			Py_XDECREF(v);
			Py_DECREF(dbs);
			return NULL;
		}
		Py_DECREF(v);
	}
	return dict_of("repo", str_or_none(e->repo),
	    "store", str_or_none(e->store), "dir", str_or_none(e->dir),
	    "counters", counters_dict(e->counters, e->ncounters),
	    "dbs", dbs, NULL);
}

static PyObject *
client_stats(ClientObject *self, PyObject *args, PyObject *kw)
{
	static char	*kwlist[] = { "store", "repo", NULL };
	const char	*store = NULL, *repo = NULL;
	PyObject	*r;
	sc_stats	*st = NULL;
	int		 rc;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|z$z:stats", kwlist,
	    &store, &repo))
		return NULL;
	if (enter(self) == -1)
		return NULL;
	CALL(self, rc, sc_get_stats(c, repo, store, &st));
	leave(self);
	if (rc == -1)
		return raise_conn(self->c);
	r = dict_of("daemon", counters_dict(st->daemon, st->ndaemon),
	    "envs", list_of(st->nenvs, env_dict, st), NULL);
	sc_stats_free(st);
	return r;
}

/* Item i of a live reply. */
static PyObject *
live_dict(const void *ctx, size_t i)
{
	const sc_live_env	*e = &((const sc_live *)ctx)->envs[i];

	return dict_of("repo", str_or_none(e->repo),
	    "store", str_or_none(e->store), "dir", str_or_none(e->dir),
	    "inflight", PyLong_FromUnsignedLongLong(e->inflight),
	    "idle_ms", PyLong_FromUnsignedLongLong(e->idle_ms), NULL);
}

static PyObject *
client_live(ClientObject *self, PyObject *args, PyObject *kw)
{
	static char	*kwlist[] = { "store", "repo", NULL };
	const char	*store = NULL, *repo = NULL;
	PyObject	*r;
	sc_live		*l = NULL;
	int		 rc;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|z$z:live", kwlist,
	    &store, &repo))
		return NULL;
	if (enter(self) == -1)
		return NULL;
	CALL(self, rc, sc_get_live(c, repo, store, &l));
	leave(self);
	if (rc == -1)
		return raise_conn(self->c);
	r = list_of(l->n, live_dict, l);
	sc_live_free(l);
	return r;
}

static PyObject *
client_get_server_version(ClientObject *self, void *unused)
{
	(void)unused;
	if (self->c == NULL)
		Py_RETURN_NONE;
	return PyUnicode_FromString(sc_server_version(self->c));
}

static PyObject *
client_get_socket(ClientObject *self, void *unused)
{
	(void)unused;
	if (self->c == NULL)
		Py_RETURN_NONE;
	return PyUnicode_DecodeFSDefault(sc_socket_path(self->c));
}

static PyObject *
client_get_closed(ClientObject *self, void *unused)
{
	(void)unused;
	return PyBool_FromLong(self->closed);
}

/* ----------------------------------------------------------- Batch */

typedef struct {
	PyObject_HEAD
	ClientObject	*client;
	sc_batch	*b;		/* NULL once committed or aborted */
} BatchObject;

static PyObject *
client_batch(ClientObject *self, PyObject *args, PyObject *kw)
{
	static char	*kwlist[] = { "store", "repo", "db", NULL };
	const char	*store, *repo = NULL, *db = NULL;
	BatchObject	*bo;
	sc_batch	*b;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "s|$zz:batch", kwlist,
	    &store, &repo, &db))
		return NULL;
	if (enter(self) == -1)
		return NULL;
	b = sc_batch_begin(self->c, repo, store, db);	/* sends nothing */
	leave(self);
	if (b == NULL)
		return raise_conn(self->c);
	if ((bo = PyObject_New(BatchObject, &BatchType)) == NULL) {
		sc_batch_abort(b);
		return NULL;
	}
	bo->client = (ClientObject *)Py_NewRef(self);
	bo->b = b;
	self->children++;
	return (PyObject *)bo;
}

/* Drops the batch (nothing applied) and lets go of the client. */
static void
batch_finish(BatchObject *self, int commit, int *rc)
{
	sc_batch	*b = self->b;

	self->b = NULL;
	Py_BEGIN_ALLOW_THREADS
	if (commit)
		*rc = sc_batch_commit(b);
	else
		sc_batch_abort(b);
	Py_END_ALLOW_THREADS
	self->client->children--;
}

static void
batch_dealloc(BatchObject *self)
{
	int	 rc;

	if (self->b != NULL) {
		if (self->client->busy) {
			/* Another thread is on the connection (against the
			 * rules): the batch is left unapplied in the C
			 * library, never raced; it goes with the connection. */
			self->b = NULL;
			self->client->children--;
		} else {
			self->client->busy = 1;
			batch_finish(self, 0, &rc);
			self->client->busy = 0;
		}
		client_release(self->client);
	}
	Py_XDECREF(self->client);
	PyObject_Free(self);
}

/* Takes the batch's connection for one call; -1 with an exception. */
static int
batch_enter(BatchObject *self)
{
	if (self->b == NULL) {
		raise_code(SC_ERR_INVALID, "the batch was committed or "
		    "aborted; start another", SC_NOINDEX);
		return -1;
	}
	return enter(self->client);
}

/*
 * The adders: one row per op, named as the batch's methods.  Each takes
 * a key (but clear), a value when has_val, and db.
 */
enum batch_op { B_PUT, B_DEL, B_PUT_IF_ABSENT, B_EXPECT, B_EXPECT_ABSENT,
	B_CLEAR };

static PyObject *
batch_add(BatchObject *self, enum batch_op op, PyObject *args, PyObject *kw)
{
	static char		*kw_kv[] = { "key", "value", "db", NULL };
	static char		*kw_k[] = { "key", "db", NULL };
	static char		*kw_none[] = { "db", NULL };
	struct arg_bytes	 k = { .p = NULL }, v = { .p = NULL };
	const char		*db = NULL;
	PyObject		*r = NULL;
	int			 ok, rc = -1;

	switch (op) {
	case B_PUT: case B_PUT_IF_ABSENT: case B_EXPECT:
		ok = PyArg_ParseTupleAndKeywords(args, kw, "O&O&|$z", kw_kv,
		    conv_key, &k, conv_value, &v, &db);
		break;
	case B_DEL: case B_EXPECT_ABSENT:
		ok = PyArg_ParseTupleAndKeywords(args, kw, "O&|$z", kw_k,
		    conv_key, &k, &db);
		break;
	default:
		ok = PyArg_ParseTupleAndKeywords(args, kw, "|$z", kw_none,
		    &db);
		break;
	}
	if (!ok)
		return NULL;
	if (batch_enter(self) == -1)
		goto out;
	{
		sc_batch	*b = self->b;

		Py_BEGIN_ALLOW_THREADS
		switch (op) {
		case B_PUT:
			rc = sc_batch_put(b, db, k.p, k.n, v.p, v.n);
			break;
		case B_DEL:
			rc = sc_batch_del(b, db, k.p, k.n);
			break;
		case B_PUT_IF_ABSENT:
			rc = sc_batch_put_if_absent(b, db, k.p, k.n, v.p,
			    v.n);
			break;
		case B_EXPECT:
			rc = sc_batch_expect(b, db, k.p, k.n, v.p, v.n);
			break;
		case B_EXPECT_ABSENT:
			rc = sc_batch_expect_absent(b, db, k.p, k.n);
			break;
		case B_CLEAR:
			rc = sc_batch_clear(b, db);
			break;
		}
		Py_END_ALLOW_THREADS
	}
	leave(self->client);
	if (rc == -1)
		raise_conn(self->client->c);
	else
		r = Py_NewRef(Py_None);
out:
	bytes_release(&k);
	bytes_release(&v);
	return r;
}

#define BATCH_ADDER(name, op)						\
static PyObject *							\
batch_##name(BatchObject *self, PyObject *args, PyObject *kw)		\
{									\
	return batch_add(self, op, args, kw);				\
}
BATCH_ADDER(put, B_PUT)
BATCH_ADDER(delete, B_DEL)
BATCH_ADDER(put_if_absent, B_PUT_IF_ABSENT)
BATCH_ADDER(expect, B_EXPECT)
BATCH_ADDER(expect_absent, B_EXPECT_ABSENT)
BATCH_ADDER(clear, B_CLEAR)

static PyObject *
batch_commit(BatchObject *self, PyObject *unused)
{
	int	 rc;

	(void)unused;
	if (batch_enter(self) == -1)
		return NULL;
	batch_finish(self, 1, &rc);
	leave(self->client);
	if (rc == -1) {
		raise_conn(self->client->c);
		client_release(self->client);
		return NULL;
	}
	client_release(self->client);
	Py_RETURN_NONE;
}

static PyObject *
batch_abort(BatchObject *self, PyObject *unused)
{
	int	 rc;

	(void)unused;
	if (self->b == NULL)
		Py_RETURN_NONE;
	if (self->client->busy) {
		PyErr_SetString(PyExc_RuntimeError, "this connection is in "
		    "use by another thread");
		return NULL;
	}
	self->client->busy = 1;		/* aborting may tell storesd */
	batch_finish(self, 0, &rc);
	self->client->busy = 0;
	client_release(self->client);
	Py_RETURN_NONE;
}

static PyObject *
batch_enter_ctx(BatchObject *self, PyObject *unused)
{
	(void)unused;
	return Py_NewRef(self);
}

static PyObject *
batch_exit_ctx(BatchObject *self, PyObject *args)
{
	PyObject	*type, *val, *tb, *r;

	if (!PyArg_ParseTuple(args, "OOO:__exit__", &type, &val, &tb))
		return NULL;
	if (self->b == NULL)	/* committed or aborted in the block */
		Py_RETURN_FALSE;
	r = type == Py_None ? batch_commit(self, NULL) :
	    batch_abort(self, NULL);
	if (r == NULL)
		return NULL;
	Py_DECREF(r);
	Py_RETURN_FALSE;
}

static Py_ssize_t
batch_len(BatchObject *self)
{
	return self->b == NULL ? 0 : (Py_ssize_t)sc_batch_count(self->b);
}

static PyObject *
batch_get_open(BatchObject *self, void *unused)
{
	(void)unused;
	return PyBool_FromLong(self->b != NULL);
}

/* ------------------------------------------------------------ Scan */

typedef struct {
	PyObject_HEAD
	ClientObject	*client;
	sc_scan		*s;		/* NULL once ended */
	int		 keys_only;
} ScanObject;

/* What a scan asks for, in the binding's own terms. */
struct scan_args {
	struct arg_bytes	 prefix, start, end;
	PyObject		*limit;		/* None: no limit */
	int			 reverse, keys_only;
};

/*
 * Starts a scan.  The only use of sc_scan_opts, so that a change of how
 * scan options are passed is made here alone.  Returns the scan, or NULL
 * with c's error, or with MemoryError raised.
 */
static sc_scan *
scan_open(sc_conn *c, const char *repo, const char *store, const char *db,
    const struct scan_args *a, uint64_t limit)
{
	sc_scan_opts	*o;
	sc_scan		*s = NULL;

	if ((o = sc_scan_opts_new()) == NULL ||
	    sc_scan_opts_set_prefix(o, a->prefix.p, a->prefix.n) == -1 ||
	    sc_scan_opts_set_start(o, a->start.p, a->start.n) == -1 ||
	    sc_scan_opts_set_end(o, a->end.p, a->end.n) == -1 ||
	    (a->limit != Py_None && sc_scan_opts_set_limit(o, limit) == -1) ||
	    sc_scan_opts_set_reverse(o, a->reverse) == -1 ||
	    sc_scan_opts_set_keys_only(o, a->keys_only) == -1)
		PyErr_NoMemory();
	else
		s = sc_scan_begin(c, repo, store, db, o);  /* copies o */
	sc_scan_opts_free(o);
	return s;
}

static PyObject *
client_scan(ClientObject *self, PyObject *args, PyObject *kw)
{
	static char		*kwlist[] = { "store", "repo", "db", "prefix",
				    "start", "end", "limit", "reverse",
				    "keys_only", NULL };
	struct scan_args	 a = { .limit = Py_None };
	const char		*store, *repo = NULL, *db = NULL;
	unsigned long long	 limit = 0;
	ScanObject		*so = NULL;
	sc_scan			*s;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "s|$zzO&O&O&Opp:scan",
	    kwlist, &store, &repo, &db, conv_opt_key, &a.prefix,
	    conv_opt_key, &a.start, conv_opt_key, &a.end, &a.limit,
	    &a.reverse, &a.keys_only))
		return NULL;
	if (a.limit != Py_None) {
		if (!PyLong_Check(a.limit) ||
		    ((limit = PyLong_AsUnsignedLongLong(a.limit)) ==
		    (unsigned long long)-1 && PyErr_Occurred())) {
			PyErr_Clear();
			PyErr_SetString(PyExc_ValueError, "limit is an int "
			    ">= 0, or None");
			goto out;
		}
	}
	if (enter(self) == -1)
		goto out;
	s = scan_open(self->c, repo, store, db, &a, limit);  /* sends nothing */
	leave(self);
	if (s == NULL) {
		if (!PyErr_Occurred())
			raise_conn(self->c);
		goto out;
	}
	if ((so = PyObject_New(ScanObject, &ScanType)) == NULL) {
		sc_scan_end(s);
		goto out;
	}
	so->client = (ClientObject *)Py_NewRef(self);
	so->s = s;
	so->keys_only = a.keys_only;
	self->children++;
out:
	bytes_release(&a.prefix);
	bytes_release(&a.start);
	bytes_release(&a.end);
	return (PyObject *)so;
}

static void
scan_finish(ScanObject *self)
{
	if (self->s == NULL)
		return;
	sc_scan_end(self->s);	/* frees; sends nothing */
	self->s = NULL;
	self->client->children--;
	client_release(self->client);
}

static void
scan_dealloc(ScanObject *self)
{
	scan_finish(self);
	Py_XDECREF(self->client);
	PyObject_Free(self);
}

static PyObject *
scan_next(ScanObject *self)
{
	const void	*k, *v;
	size_t		 kn, vn;
	sc_scan		*s = self->s;
	int		 rc;

	if (s == NULL)
		return NULL;
	if (enter(self->client) == -1) {
		if (self->client->closed)	/* over for good */
			scan_finish(self);
		return NULL;
	}
	Py_BEGIN_ALLOW_THREADS
	rc = sc_scan_next(s, &k, &kn, &v, &vn);
	Py_END_ALLOW_THREADS
	leave(self->client);
	if (rc == 1) {
		if (self->keys_only)
			return PyBytes_FromStringAndSize(k, (Py_ssize_t)kn);
		return Py_BuildValue("y#y#", (const char *)k, (Py_ssize_t)kn,
		    (const char *)v, (Py_ssize_t)vn);
	}
	if (rc == -1)
		raise_conn(self->client->c);
	scan_finish(self);
	return NULL;
}

static PyObject *
scan_close(ScanObject *self, PyObject *unused)
{
	(void)unused;
	if (self->s != NULL && self->client->busy) {
		PyErr_SetString(PyExc_RuntimeError, "this connection is in "
		    "use by another thread");
		return NULL;
	}
	scan_finish(self);
	Py_RETURN_NONE;
}

/* ----------------------------------------------------------- Watch */

/* storeclient.Event: a named tuple of one event. */
static PyStructSequence_Field event_fields[] = {
	{ "rev", "the revision of the change (of the progress mark)" },
	{ "op", "'put', 'del', or 'progress' (progress=True only)" },
	{ "key", "the key (bytes); None for progress" },
	{ "value", "the value a put wrote (bytes); None for del, progress" },
	{ NULL, NULL },
};

static PyStructSequence_Desc event_desc = {
	"storeclient.Event",
	"An event of a watch: (rev, op, key, value).",
	event_fields,
	4,
};

static PyTypeObject *EventType;

typedef struct {
	PyObject_HEAD
	ClientObject	*client;
	sc_watch	*w;		/* NULL once closed */
	uint64_t	 rev;		/* the current revision at the start */
	int		 timeout_ms;	/* per event; -1: none */
	int		 progress;	/* hand out progress marks too */
	int		 ended;		/* storesd ended it: raised once */
} WatchObject;

/* Slices of a wait, so that a signal (Ctrl-C) is seen within one. */
#define WATCH_SLICE_MS	250

/*
 * Starts a watch.  The only use of sc_watch_opts, so that a change of
 * how watch options are passed is made here alone.  Returns the watch,
 * or NULL with c's error, or with MemoryError raised.
 */
static sc_watch *
watch_open(sc_conn *c, const char *repo, const char *store, const char *db,
    const struct arg_bytes *key, const struct arg_bytes *prefix,
    PyObject *from, uint64_t from_rev, uint64_t *rev)
{
	sc_watch_opts	*o;
	sc_watch	*w = NULL;

	if ((o = sc_watch_opts_new()) == NULL ||
	    (key->p != NULL && sc_watch_opts_set_key(o, key->p,
	    key->n) == -1) ||
	    (prefix->p != NULL && sc_watch_opts_set_prefix(o, prefix->p,
	    prefix->n) == -1) ||
	    (from != Py_None && sc_watch_opts_set_from(o, from_rev) == -1)) {
		PyErr_NoMemory();
	} else {
		Py_BEGIN_ALLOW_THREADS
		w = sc_watch_begin(c, repo, store, db, o, rev);
		Py_END_ALLOW_THREADS
	}
	sc_watch_opts_free(o);
	return w;
}

static PyObject *
client_watch(ClientObject *self, PyObject *args, PyObject *kw)
{
	static char		*kwlist[] = { "store", "key", "prefix", "repo",
				    "db", "from_rev", "timeout", "progress",
				    NULL };
	struct arg_bytes	 key = { .p = NULL }, prefix = { .p = NULL };
	const char		*store, *repo = NULL, *db = NULL;
	PyObject		*from = Py_None, *timeout = Py_None;
	unsigned long long	 from_rev = 0;
	WatchObject		*wo = NULL;
	sc_watch		*w;
	uint64_t		 rev = 0;
	double			 t;
	int			 progress = 0, ms = -1;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "s|O&$O&zzOOp:watch",
	    kwlist, &store, conv_opt_key, &key, conv_opt_key, &prefix, &repo,
	    &db, &from, &timeout, &progress))
		return NULL;
	if (key.p != NULL && prefix.p != NULL) {
		PyErr_SetString(PyExc_ValueError, "watch one key or a prefix, "
		    "not both");
		goto out;
	}
	if (from != Py_None && (!PyLong_Check(from) ||
	    ((from_rev = PyLong_AsUnsignedLongLong(from)) ==
	    (unsigned long long)-1 && PyErr_Occurred()) || from_rev == 0)) {
		PyErr_Clear();
		PyErr_SetString(PyExc_ValueError, "from_rev is a revision, an "
		    "int >= 1, or None");
		goto out;
	}
	if (timeout != Py_None) {
		if ((t = PyFloat_AsDouble(timeout)) == -1.0 &&
		    PyErr_Occurred())
			goto out;
		if (!(t >= 0) || t * 1000 > INT_MAX) {
			PyErr_SetString(PyExc_ValueError, "timeout is seconds, "
			    ">= 0 (None: wait for ever)");
			goto out;
		}
		ms = (int)(t * 1000);
	}
	if (enter(self) == -1)
		goto out;
	w = watch_open(self->c, repo, store, db, &key, &prefix, from,
	    from_rev, &rev);
	leave(self);
	if (w == NULL) {
		if (!PyErr_Occurred())
			raise_conn(self->c);
		goto out;
	}
	if ((wo = PyObject_New(WatchObject, &WatchType)) == NULL) {
		sc_watch_end(w);
		goto out;
	}
	wo->client = (ClientObject *)Py_NewRef(self);
	wo->w = w;
	wo->rev = rev;
	wo->timeout_ms = ms;
	wo->progress = progress;
	wo->ended = 0;
	self->children++;
out:
	bytes_release(&key);
	bytes_release(&prefix);
	return (PyObject *)wo;
}

/* Ends the watch (an unwatch unless storesd ended it) and lets go of the
 * client. */
static void
watch_finish(WatchObject *self)
{
	sc_watch	*w = self->w;

	if (w == NULL)
		return;
	self->w = NULL;
	Py_BEGIN_ALLOW_THREADS
	sc_watch_end(w);
	Py_END_ALLOW_THREADS
	self->client->children--;
	client_release(self->client);
}

static void
watch_dealloc(WatchObject *self)
{
	if (self->w != NULL) {
		if (self->client->busy) {
			/* Another thread is on the connection (against the
			 * rules): the watch is left as it is, never raced;
			 * it ends with the connection. */
			self->w = NULL;
			self->client->children--;
			client_release(self->client);
		} else {
			self->client->busy = 1;
			watch_finish(self);
			self->client->busy = 0;
		}
	}
	Py_XDECREF(self->client);
	PyObject_Free(self);
}

/* The exception of the end of w: Compacted carries .oldest, .current. */
static PyObject *
watch_raise(WatchObject *self)
{
	sc_conn		*c = self->client->c;
	uint64_t	 oldest = 0, current = 0;
	PyObject	*exc, *v;

	if ((exc = exc_new(sc_errcode(c), sc_errmsg(c), SC_NOINDEX)) == NULL)
		return NULL;
	if (sc_watch_compacted(self->w, &oldest, &current) == 0) {
		if ((v = PyLong_FromUnsignedLongLong(oldest)) == NULL ||
		    PyObject_SetAttrString(exc, "oldest", v) == -1)
			goto fail;
		Py_DECREF(v);
		if ((v = PyLong_FromUnsignedLongLong(current)) == NULL ||
		    PyObject_SetAttrString(exc, "current", v) == -1)
			goto fail;
		Py_DECREF(v);
	}
	PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
	Py_DECREF(exc);
	return NULL;
fail:
	Py_XDECREF(v);
	Py_DECREF(exc);
	return NULL;
}

static PyObject *
event_new(const sc_event *ev)
{
	static const char *const ops[] = { "", "put", "del", "progress" };
	PyObject	*e;

	if ((e = PyStructSequence_New(EventType)) == NULL)
		return NULL;
	PyStructSequence_SET_ITEM(e, 0, PyLong_FromUnsignedLongLong(ev->rev));
	PyStructSequence_SET_ITEM(e, 1, PyUnicode_FromString(ops[ev->op]));
	PyStructSequence_SET_ITEM(e, 2, ev->key == NULL ? Py_NewRef(Py_None) :
	    PyBytes_FromStringAndSize(ev->key, (Py_ssize_t)ev->klen));
	PyStructSequence_SET_ITEM(e, 3, ev->op != SC_EV_PUT ?
	    Py_NewRef(Py_None) : PyBytes_FromStringAndSize(ev->val,
	    (Py_ssize_t)ev->vlen));
	if (PyErr_Occurred()) {
		Py_DECREF(e);
		return NULL;
	}
	return e;
}

/*
 * The next event: waits in slices of WATCH_SLICE_MS (the GIL released),
 * checking for signals between them, up to the watch's timeout.  None
 * came in time: the iteration stops, the watch stays.  storesd ended
 * it: its exception, once, then the iteration stops for good.
 */
static PyObject *
watch_next(WatchObject *self)
{
	sc_watch	*w = self->w;
	sc_event	 ev;
	int		 left = self->timeout_ms, slice, rc;

	if (w == NULL || self->ended)
		return NULL;
	for (;;) {
		slice = left < 0 || left > WATCH_SLICE_MS ? WATCH_SLICE_MS :
		    left;
		if (enter(self->client) == -1)
			return NULL;
		Py_BEGIN_ALLOW_THREADS
		rc = sc_watch_next(w, &ev, slice);
		Py_END_ALLOW_THREADS
		leave(self->client);
		if (rc == 1 && ev.op == SC_EV_PROGRESS && !self->progress)
			continue;
		if (rc == 1)
			return event_new(&ev);
		if (rc == -1) {
			/* A pipeline's replies pending: the watch goes on. */
			if (sc_errcode(self->client->c) == SC_ERR_INVALID)
				return raise_conn(self->client->c);
			self->ended = 1;
			return watch_raise(self);
		}
		if (left >= 0 && (left -= slice) <= 0)
			return NULL;	/* StopIteration: none in time */
		if (PyErr_CheckSignals() == -1)
			return NULL;
	}
}

static PyObject *
watch_close(WatchObject *self, PyObject *unused)
{
	(void)unused;
	if (self->w == NULL)
		Py_RETURN_NONE;
	if (self->client->busy) {
		PyErr_SetString(PyExc_RuntimeError, "this connection is in "
		    "use by another thread");
		return NULL;
	}
	self->client->busy = 1;		/* the unwatch waits for storesd */
	watch_finish(self);
	self->client->busy = 0;
	Py_RETURN_NONE;
}

static PyObject *
watch_enter_ctx(WatchObject *self, PyObject *unused)
{
	(void)unused;
	return Py_NewRef(self);
}

static PyObject *
watch_exit_ctx(WatchObject *self, PyObject *args)
{
	PyObject	*r;

	(void)args;
	if ((r = watch_close(self, NULL)) == NULL)
		return NULL;
	Py_DECREF(r);
	Py_RETURN_FALSE;
}

static PyObject *
watch_get_rev(WatchObject *self, void *unused)
{
	(void)unused;
	return PyLong_FromUnsignedLongLong(self->rev);
}

static PyObject *
watch_get_closed(WatchObject *self, void *unused)
{
	(void)unused;
	return PyBool_FromLong(self->w == NULL);
}

static PyObject *
client_rev(ClientObject *self, PyObject *args, PyObject *kw)
{
	static char	*kwlist[] = { "store", "repo", NULL };
	const char	*store, *repo = NULL;
	uint64_t	 rev = 0;
	int		 rc;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "s|$z:rev", kwlist,
	    &store, &repo))
		return NULL;
	if (enter(self) == -1)
		return NULL;
	CALL(self, rc, sc_rev(c, repo, store, &rev));
	leave(self);
	if (rc == -1)
		return raise_conn(self->c);
	return PyLong_FromUnsignedLongLong(rev);
}

/* -------------------------------------------------------- Pipeline */

/* What each queued request was, to shape its reply. */
enum pipe_kind { P_GET = 'g', P_PUT = 'p', P_DEL = 'd' };

typedef struct {
	PyObject_HEAD
	ClientObject	*client;
	char		*kinds;		/* one per request queued */
	size_t		 n, cap;
} PipelineObject;

static PyObject *
client_pipeline(ClientObject *self, PyObject *unused)
{
	PipelineObject	*p;

	(void)unused;
	if (self->closed)
		return raise_code(SC_ERR_IO, "the connection is closed; "
		    "connect again", SC_NOINDEX);
	if ((p = PyObject_New(PipelineObject, &PipelineType)) == NULL)
		return NULL;
	p->client = (ClientObject *)Py_NewRef(self);
	p->kinds = NULL;
	p->n = p->cap = 0;
	return (PyObject *)p;
}

/* Collects every queued reply into a list (each a result or an
 * exception instance); NULL only on a Python failure. */
static PyObject *
pipe_collect(PipelineObject *self)
{
	PyObject	*r, *v;
	const void	*val;
	size_t		 vn, i, n = self->n;
	sc_conn		*c = self->client->c;
	int		 rc, code;

	self->n = 0;
	if ((r = PyList_New((Py_ssize_t)n)) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (c == NULL) {	/* closed meanwhile */
			rc = -1;
			code = SC_ERR_IO;
		} else {
			val = NULL;
			vn = 0;
			Py_BEGIN_ALLOW_THREADS
			rc = sc_collect(c, &val, &vn);
			Py_END_ALLOW_THREADS
			code = rc == -1 ? sc_errcode(c) : SC_OK;
		}
		if (rc == 0 && self->kinds[i] == P_GET)
			v = PyBytes_FromStringAndSize(val, (Py_ssize_t)vn);
		else if (rc == 0)
			v = Py_NewRef(self->kinds[i] == P_DEL ? Py_True :
			    Py_None);
		else if (code == SC_ERR_NOT_FOUND && self->kinds[i] != P_PUT)
			v = Py_NewRef(self->kinds[i] == P_DEL ? Py_False :
			    Py_None);
		else
			v = c == NULL ? exc_new(SC_ERR_IO, "the connection "
			    "is closed", SC_NOINDEX) : exc_new(code,
			    sc_errmsg(c), sc_errindex(c));
		if (v == NULL) {
			/* Keep the connection usable: drain the rest. */
			while (c != NULL && ++i < n)
				(void)sc_collect(c, NULL, NULL);
			Py_DECREF(r);
			return NULL;
		}
		PyList_SET_ITEM(r, (Py_ssize_t)i, v);
	}
	return r;
}

static void
pipeline_dealloc(PipelineObject *self)
{
	PyObject	*r, *type, *val, *tb;

	if (self->n > 0 && !self->client->busy) {
		/* Replies left uncollected would block the connection. */
		PyErr_Fetch(&type, &val, &tb);
		self->client->busy = 1;
		r = pipe_collect(self);
		self->client->busy = 0;
		Py_XDECREF(r);
		PyErr_Clear();
		PyErr_Restore(type, val, tb);
	}
	PyMem_Free(self->kinds);
	Py_XDECREF(self->client);
	PyObject_Free(self);
}

static PyObject *
pipe_add(PipelineObject *self, enum pipe_kind kind, PyObject *args,
    PyObject *kw)
{
	static char		*kw_kv[] = { "store", "key", "value", "repo",
				    "db", NULL };
	static char		*kw_k[] = { "store", "key", "repo", "db",
				    NULL };
	struct arg_bytes	 k, v = { .p = NULL };
	const char		*store, *repo = NULL, *db = NULL;
	PyObject		*r = NULL;
	char			*kinds;
	int			 ok, rc;

	if (kind == P_PUT)
		ok = PyArg_ParseTupleAndKeywords(args, kw, "sO&O&|$zz", kw_kv,
		    &store, conv_key, &k, conv_value, &v, &repo, &db);
	else
		ok = PyArg_ParseTupleAndKeywords(args, kw, "sO&|$zz", kw_k,
		    &store, conv_key, &k, &repo, &db);
	if (!ok)
		return NULL;
	if (self->n == self->cap) {
		size_t	 cap = self->cap ? self->cap * 2 : 64;

		if ((kinds = PyMem_Realloc(self->kinds, cap)) == NULL) {
			PyErr_NoMemory();
			goto out;
		}
		self->kinds = kinds;
		self->cap = cap;
	}
	if (enter(self->client) == -1)
		goto out;
	if (kind == P_GET)
		CALL(self->client, rc, sc_append_get(c, repo, store, db, k.p,
		    k.n));
	else if (kind == P_PUT)
		CALL(self->client, rc, sc_append_put(c, repo, store, db, k.p,
		    k.n, v.p, v.n));
	else
		CALL(self->client, rc, sc_append_del(c, repo, store, db, k.p,
		    k.n));
	leave(self->client);
	if (rc == -1) {
		/* A send that failed lost every queued reply too. */
		if (sc_pending(self->client->c) == 0)
			self->n = 0;
		raise_conn(self->client->c);
		goto out;
	}
	self->kinds[self->n++] = (char)kind;
	r = Py_NewRef(self);
out:
	bytes_release(&k);
	bytes_release(&v);
	return r;
}

#define PIPE_ADDER(name, kind)						\
static PyObject *							\
pipe_##name(PipelineObject *self, PyObject *args, PyObject *kw)		\
{									\
	return pipe_add(self, kind, args, kw);				\
}
PIPE_ADDER(get, P_GET)
PIPE_ADDER(put, P_PUT)
PIPE_ADDER(delete, P_DEL)

static PyObject *
pipe_execute(PipelineObject *self, PyObject *args, PyObject *kw)
{
	static char	*kwlist[] = { "raise_on_error", NULL };
	PyObject	*r, *item;
	Py_ssize_t	 i;
	int		 raise_on_error = 1;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|$p:execute", kwlist,
	    &raise_on_error))
		return NULL;
	if (enter(self->client) == -1)
		return NULL;
	r = pipe_collect(self);
	leave(self->client);
	if (r == NULL || !raise_on_error)
		return r;
	for (i = 0; i < PyList_GET_SIZE(r); i++) {
		item = PyList_GET_ITEM(r, i);
		if (PyExceptionInstance_Check(item)) {
			PyErr_SetObject((PyObject *)Py_TYPE(item), item);
			Py_DECREF(r);
			return NULL;
		}
	}
	return r;
}

static Py_ssize_t
pipe_len(PipelineObject *self)
{
	return (Py_ssize_t)self->n;
}

static PyObject *
pipe_enter_ctx(PipelineObject *self, PyObject *unused)
{
	(void)unused;
	return Py_NewRef(self);
}

/* Leaving the block drops replies not collected with execute(). */
static PyObject *
pipe_exit_ctx(PipelineObject *self, PyObject *args)
{
	PyObject	*r;

	(void)args;
	if (self->n > 0) {
		if (enter(self->client) == -1)
			return NULL;
		r = pipe_collect(self);
		leave(self->client);
		if (r == NULL)
			return NULL;
		Py_DECREF(r);
	}
	Py_RETURN_FALSE;
}

/* ------------------------------------------------------------- types */

#define KW	(METH_VARARGS | METH_KEYWORDS)

static PyMethodDef client_methods[] = {
	{ "get", (PyCFunction)(void (*)(void))client_get, KW,
	  "get(store, key, *, repo=None, db=None) -> bytes | None\n\n"
	  "The value of key, or None when the key (or its env) is absent." },
	{ "put", (PyCFunction)(void (*)(void))client_put, KW,
	  "put(store, key, value, *, repo=None, db=None, if_absent=False, "
	  "if_equals=None)\n\nWrites key = value as one durable commit.  "
	  "if_absent: only if key is absent; if_equals=old: only if key "
	  "holds exactly old.  A condition that does not hold raises "
	  "CondFailed and changes nothing." },
	{ "delete", (PyCFunction)(void (*)(void))client_delete, KW,
	  "delete(store, key, *, repo=None, db=None, if_equals=None) -> bool"
	  "\n\nDeletes key; False when it was absent.  if_equals=old: only "
	  "if key holds exactly old (CondFailed otherwise, also when "
	  "absent)." },
	{ "mget", (PyCFunction)(void (*)(void))client_mget, KW,
	  "mget(store, keys, *, repo=None, db=None) -> list[bytes | None]\n\n"
	  "The values of keys from one read snapshot, None for each absent "
	  "one." },
	{ "missing", (PyCFunction)(void (*)(void))client_missing, KW,
	  "missing(store, keys, *, repo=None, db=None) -> list\n\n"
	  "The keys (as passed) that are absent, in the order given." },
	{ "count", (PyCFunction)(void (*)(void))client_count, KW,
	  "count(store, *, repo=None, db=None) -> int\n\n"
	  "The number of entries in the db (0 when its env does not exist)." },
	{ "scan", (PyCFunction)(void (*)(void))client_scan, KW,
	  "scan(store, *, repo=None, db=None, prefix=None, start=None, "
	  "end=None, limit=None, reverse=False, keys_only=False) -> Scan\n\n"
	  "An iterator over the keys in [start, end) that start with prefix, "
	  "in byte order (reversed when asked), of (key, value) pairs (keys "
	  "alone with keys_only).  Pages are fetched as it goes, each its "
	  "own snapshot; the connection can be used in between." },
	{ "batch", (PyCFunction)(void (*)(void))client_batch, KW,
	  "batch(store, *, repo=None, db=None) -> Batch\n\n"
	  "An atomic batch: use it in a with block (committed on a normal "
	  "exit, aborted on an exception), or call commit() or abort()." },
	{ "pipeline", (PyCFunction)client_pipeline, METH_NOARGS,
	  "pipeline() -> Pipeline\n\n"
	  "Queues gets, puts and deletes without waiting for each reply; "
	  "execute() returns the replies in order." },
	{ "snapshot", (PyCFunction)(void (*)(void))client_snapshot, KW,
	  "snapshot(store, file, *, repo=None, compact=False) -> int\n\n"
	  "Has storesd write a consistent copy of the env into file (a file "
	  "object open for writing, or a descriptor); returns the bytes "
	  "written.  NotFound when the env does not exist." },
	{ "fork", (PyCFunction)(void (*)(void))client_fork, KW,
	  "fork(store, src_repo, dst_repo)\n\n"
	  "Makes a point-in-time copy of src_repo's env the env of dst_repo "
	  "(Exists if it has one)." },
	{ "stats", (PyCFunction)(void (*)(void))client_stats, KW,
	  "stats(store=None, *, repo=None) -> dict\n\n"
	  "{'daemon': {counter: int}, 'envs': [{'repo', 'store', 'dir', "
	  "'counters': {...}, 'dbs': {name: {...}}}]}: the daemon's and one "
	  "env's counters (store given), or every open env's." },
	{ "live", (PyCFunction)(void (*)(void))client_live, KW,
	  "live(store=None, *, repo=None) -> list[dict]\n\n"
	  "The envs storesd has open: repo, store, dir, inflight, idle_ms." },
	{ "watch", (PyCFunction)(void (*)(void))client_watch, KW,
	  "watch(store, key=None, *, prefix=None, repo=None, db=None, "
	  "from_rev=None, timeout=None, progress=False) -> Watch\n\n"
	  "Follows one key, or the keys starting with prefix (neither: the "
	  "whole db): an iterator of Event(rev, op, key, value), op 'put' or "
	  "'del', each change once, in revision order, from the revision "
	  "after the current one (Watch.rev), or from from_rev on (replayed "
	  "from the store's history).  timeout: seconds to wait for each "
	  "event; when none comes in time the iteration stops and the watch "
	  "stays open (iterate again to go on).  progress=True also yields "
	  "progress marks (op 'progress', key and value None) after quiet "
	  "spells.  When storesd ends the watch the iteration raises "
	  "Compacted (.oldest, .current: read the data again, then watch "
	  "from current + 1), Resync, WatchOverflow or Forbidden.  Use it in "
	  "a with block, or close() it.  The connection serves other calls "
	  "meanwhile." },
	{ "rev", (PyCFunction)(void (*)(void))client_rev, KW,
	  "rev(store, *, repo=None) -> int\n\n"
	  "The env's current revision (0 when it does not exist yet)." },
	{ "ping", (PyCFunction)client_ping, METH_NOARGS,
	  "ping()\n\nAsks storesd to answer." },
	{ "close", (PyCFunction)client_close, METH_NOARGS,
	  "close()\n\nCloses the connection (at once for new calls; the "
	  "socket when its last batch or scan goes)." },
	{ "__enter__", (PyCFunction)client_enter, METH_NOARGS, NULL },
	{ "__exit__", (PyCFunction)client_exit, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef client_getset[] = {
	{ "server_version", (getter)client_get_server_version, NULL,
	  "storesd's name and version, e.g. 'storesd 0.1.0'.", NULL },
	{ "socket", (getter)client_get_socket, NULL,
	  "The socket path this client connected to.", NULL },
	{ "closed", (getter)client_get_closed, NULL,
	  "True once close() was called.", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

static PyTypeObject ClientType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "storeclient.Client",
	.tp_basicsize = sizeof(ClientObject),
	.tp_dealloc = (destructor)client_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "A connection to storesd (made by connect()).  Use it from "
	    "one thread at a time; open one per thread.",
	.tp_methods = client_methods,
	.tp_getset = client_getset,
};

static PyMethodDef batch_methods[] = {
	{ "put", (PyCFunction)(void (*)(void))batch_put, KW,
	  "put(key, value, *, db=None)\n\nSets key to value." },
	{ "delete", (PyCFunction)(void (*)(void))batch_delete, KW,
	  "delete(key, *, db=None)\n\nRemoves key (absent is no error)." },
	{ "put_if_absent", (PyCFunction)(void (*)(void))batch_put_if_absent,
	  KW, "put_if_absent(key, value, *, db=None)\n\nSets key, failing "
	  "the batch at commit if it exists." },
	{ "expect", (PyCFunction)(void (*)(void))batch_expect, KW,
	  "expect(key, value, *, db=None)\n\nFails the batch at commit unless "
	  "key holds exactly value." },
	{ "expect_absent", (PyCFunction)(void (*)(void))batch_expect_absent,
	  KW, "expect_absent(key, *, db=None)\n\nFails the batch at commit if "
	  "key exists." },
	{ "clear", (PyCFunction)(void (*)(void))batch_clear, KW,
	  "clear(*, db=None)\n\nEmpties the db (later ops refill it)." },
	{ "commit", (PyCFunction)batch_commit, METH_NOARGS,
	  "commit()\n\nApplies every op in one atomic commit.  On failure "
	  "nothing is applied and the exception's .index names the op." },
	{ "abort", (PyCFunction)batch_abort, METH_NOARGS,
	  "abort()\n\nDrops the batch: nothing is applied." },
	{ "__enter__", (PyCFunction)batch_enter_ctx, METH_NOARGS, NULL },
	{ "__exit__", (PyCFunction)batch_exit_ctx, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef batch_getset[] = {
	{ "open", (getter)batch_get_open, NULL,
	  "True until the batch is committed or aborted.", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

static PySequenceMethods batch_as_seq = {
	.sq_length = (lenfunc)batch_len,
};

static PyTypeObject BatchType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "storeclient.Batch",
	.tp_basicsize = sizeof(BatchObject),
	.tp_dealloc = (destructor)batch_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "An atomic batch (Client.batch()).  Ops stream to storesd "
	    "as they are added and apply at commit, all or nothing; a batch "
	    "dropped uncommitted applies nothing.  While it is open, its "
	    "connection's other calls raise InvalidArgument.",
	.tp_methods = batch_methods,
	.tp_getset = batch_getset,
	.tp_as_sequence = &batch_as_seq,
};

static PyMethodDef scan_methods[] = {
	{ "close", (PyCFunction)scan_close, METH_NOARGS,
	  "close()\n\nEnds the scan early." },
	{ NULL, NULL, 0, NULL },
};

static PyTypeObject ScanType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "storeclient.Scan",
	.tp_basicsize = sizeof(ScanObject),
	.tp_dealloc = (destructor)scan_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "An ordered scan (Client.scan()), fetched a page at a time.",
	.tp_iter = PyObject_SelfIter,
	.tp_iternext = (iternextfunc)scan_next,
	.tp_methods = scan_methods,
};

static PyMethodDef pipe_methods[] = {
	{ "get", (PyCFunction)(void (*)(void))pipe_get, KW,
	  "get(store, key, *, repo=None, db=None) -> Pipeline\n\n"
	  "Queues a get: its reply is bytes, or None when absent." },
	{ "put", (PyCFunction)(void (*)(void))pipe_put, KW,
	  "put(store, key, value, *, repo=None, db=None) -> Pipeline\n\n"
	  "Queues a put: its reply is None." },
	{ "delete", (PyCFunction)(void (*)(void))pipe_delete, KW,
	  "delete(store, key, *, repo=None, db=None) -> Pipeline\n\n"
	  "Queues a delete: its reply is True, or False when absent." },
	{ "execute", (PyCFunction)(void (*)(void))pipe_execute, KW,
	  "execute(*, raise_on_error=True) -> list\n\n"
	  "Sends what is queued and returns every reply in order.  With "
	  "raise_on_error, the first failure is raised once all replies are "
	  "in; without, failures are exception instances in the list." },
	{ "__enter__", (PyCFunction)pipe_enter_ctx, METH_NOARGS, NULL },
	{ "__exit__", (PyCFunction)pipe_exit_ctx, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL },
};

static PySequenceMethods pipe_as_seq = {
	.sq_length = (lenfunc)pipe_len,
};

static PyTypeObject PipelineType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "storeclient.Pipeline",
	.tp_basicsize = sizeof(PipelineObject),
	.tp_dealloc = (destructor)pipeline_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "Requests queued without waiting (Client.pipeline()).  "
	    "Requests in flight are not ordered against each other (a get "
	    "queued after a put of the same key may not see it): execute() "
	    "the put first when that matters.  While replies are pending, "
	    "the connection's other calls raise InvalidArgument.",
	.tp_methods = pipe_methods,
	.tp_as_sequence = &pipe_as_seq,
};

static PyMethodDef watch_methods[] = {
	{ "close", (PyCFunction)watch_close, METH_NOARGS,
	  "close()\n\nEnds the watch (storesd is told)." },
	{ "__enter__", (PyCFunction)watch_enter_ctx, METH_NOARGS, NULL },
	{ "__exit__", (PyCFunction)watch_exit_ctx, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef watch_getset[] = {
	{ "rev", (getter)watch_get_rev, NULL,
	  "The env's revision when the watch started.", NULL },
	{ "closed", (getter)watch_get_closed, NULL,
	  "True once close() was called.", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

static PyTypeObject WatchType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "storeclient.Watch",
	.tp_basicsize = sizeof(WatchObject),
	.tp_dealloc = (destructor)watch_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "A watch (Client.watch()): an iterator of Event, and a "
	    "context manager that ends it.",
	.tp_iter = PyObject_SelfIter,
	.tp_iternext = (iternextfunc)watch_next,
	.tp_methods = watch_methods,
	.tp_getset = watch_getset,
};

/* ------------------------------------------------------------ module */

static PyObject *
mod_default_socket(PyObject *mod, PyObject *unused)
{
	char	 buf[4096];

	(void)mod;
	(void)unused;
	if (sc_default_socket(buf, sizeof(buf)) == -1) {
		PyErr_SetString(PyExc_OSError, "the default socket path is "
		    "too long");
		return NULL;
	}
	return PyUnicode_DecodeFSDefault(buf);
}

static PyMethodDef mod_methods[] = {
	{ "connect", (PyCFunction)(void (*)(void))mod_connect, KW,
	  connect_doc },
	{ "default_socket", (PyCFunction)mod_default_socket, METH_NOARGS,
	  "default_socket() -> str\n\nThe socket path connect() uses when "
	  "given none ($STORESD_SOCKET, else the per-user default)." },
	{ NULL, NULL, 0, NULL },
};

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT,
	.m_name = "storeclient._storeclient",
	.m_doc = "storesd's client, over libstoreclient.",
	.m_size = -1,
	.m_methods = mod_methods,
};

PyMODINIT_FUNC
PyInit__storeclient(void)
{
	PyTypeObject	*types[] = { &ClientType, &BatchType, &ScanType,
			    &PipelineType, &WatchType };
	PyObject	*m;
	size_t		 i;

	if ((m = PyModule_Create(&module)) == NULL)
		return NULL;
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (PyType_Ready(types[i]) == -1 ||
		    PyModule_AddObjectRef(m, strrchr(types[i]->tp_name, '.') +
		    1, (PyObject *)types[i]) == -1)
			goto fail;
	if ((EventType = PyStructSequence_NewType(&event_desc)) == NULL ||
	    PyModule_AddObjectRef(m, "Event", (PyObject *)EventType) == -1)
		goto fail;
	if (exc_init(m) == -1 ||
	    PyModule_AddIntConstant(m, "LIB_VERSION_MAJOR",
	    SC_VERSION_MAJOR) == -1 ||
	    PyModule_AddIntConstant(m, "LIB_VERSION_MINOR",
	    SC_VERSION_MINOR) == -1)
		goto fail;
	return m;
fail:
	Py_DECREF(m);
	return NULL;
}
