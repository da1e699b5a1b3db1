/* plugin.h: spindle's plugin ABI -- the whole contract between the
 * interpreter and a plugin. A third party needs nothing else.
 *
 * Installed as $(includedir)/spindle/plugin.h. Out of tree, one line
 * builds a plugin, and the .pc names where to install it:
 *     cc -o name.so name.c $(pkg-config --cflags --libs spindle-plugin)
 *     pkg-config --variable=plugindir spindle-plugin
 *
 * A plugin is a shared object (in this tree a libtool module,
 * -module -avoid-version, installed in $(pkglibdir)) that exports ONE
 * function:
 *
 *     int spindle_plugin_init(spindle_reg *reg);
 *
 * The interpreter calls it once per process, when a script first says
 * load("name.so") (or LIB "name.so"). reg->api is a table of interpreter
 * functions: the plugin calls the interpreter only through it, so the
 * program is not linked with -export-dynamic. The plugin must first check
 * reg->abi == SPINDLE_PLUGIN_ABI (or call SPINDLE_PLUGIN_CHECK(reg)); the
 * interpreter also refuses a plugin whose optional exported integer
 * `spindle_plugin_abi` differs from its own. Return 0 on success, or
 * reg->api->fail(reg, "message") to refuse loading.
 *
 * Registration (during init only):
 *   api->def(reg, "name", "int(int,string)", fn)  a C function; the
 *       interpreter checks argument count and types (clear error naming
 *       the function, the argument position, expected and given type),
 *       converts them and calls fn through libffi. Signature types:
 *         int, long, int64   -> C int / long / int64_t (script int)
 *         double             -> C double (script int or string argument;
 *                               a double result becomes a string, "%.17g")
 *         string             -> const char * (result: copied; a NULL
 *                               result gives nothing)
 *         bool               -> C int, result 0/1
 *         void               -> result only: nothing
 *         def                -> spindle_value (any value; borrowed as an
 *                               argument, owned when returned)
 *         <plugin type name> -> void * (the wrapped pointer)
 *   api->def_raw(reg, "name", rawfn)  gets the argument array as is:
 *       for optional / variadic arguments. Return 0 and set *ret, or
 *       return api->error(ctx, ...) (which returns -1).
 *   api->def_type(reg, &desc)  a new value type; returns its type code
 *       (>= SPINDLE_T_FIRST_USER) or -1. Values of it (api->make_user)
 *       behave like built-in ones: typeof gives desc.name, printing calls
 *       desc.print, assignment/passing/lists share the value (refcounted);
 *       the wrapped pointer is released with desc.release when the last
 *       reference goes; == calls desc.equal.
 *   api->def_type_ext(reg, type, &ext)  how variables declared with the
 *       type behave: a value for `T x;` and a conversion for `T x = a, b;`
 *       and later assignments (see spindle_type_ext).
 *   api->def_system(reg, "what", rawfn)  a request of system("what", ...)
 *       (Singular's grab bag of requests); rawfn gets the other arguments.
 *   api->on_context(reg, created, destroyed)  hooks run for every new
 *       execution context made with api->new_context (e.g. to set its
 *       poll flag and function); `created` also runs at once for the
 *       context that loads the plugin.
 *
 * Loading: load("x.so") / load("x.so", "with") / LIB "x.so" look in
 * SPINDLE_PLUGIN_PATH, the build tree's plugin/.libs (when spindle runs
 * uninstalled) and $(pkglibdir); "systhreads*" names mean threads.so.
 * A plugin is loaded once per process; loading it again does nothing.
 * From the first plugin load on, reference counts use atomic instructions
 * (a plugin may start threads), so do not touch values from another
 * thread before your spindle_plugin_init has run.
 *
 * Cancellation: api->set_poll(ctx, flag, fn, ud). The VM reads *flag at
 * every call and loop back-edge; when it is non-zero it calls fn(ud); a
 * non-zero result makes the running script unwind with the error
 * "cancelled" (the call that ran it returns -1). fn may also block or
 * switch fibers (a preemption point). A context never keeps thread-local
 * state between calls, so it may move between OS threads at any poll.
 *
 * Errors: a raw function returns api->error(ctx, "fmt", ...) (-1); the
 * interpreter adds "file:line: " where the call was. api->call and friends
 * return -1 with the message (already located) in api->errmsg(ctx), kept
 * until the next api->call/call_name/execute/eval on that context.
 *
 * Values: spindle_value is a small struct passed by value. Ints are
 * unboxed; every other type points to a refcounted, immutable (or
 * copy-on-write) object, safe to share between threads. Rules: arguments
 * given to a function are borrowed (retain what you keep); values a
 * function returns or the api gives you ("make_*", call results) are
 * owned by you (release what you do not pass on).
 *
 * Threads: an execution context (spindle_ctx) runs one script at a time,
 * on any OS thread (it never keeps thread-local state across calls); many
 * contexts made with api->new_context share one global table safely.
 * Errors never longjmp: every call returns 0 or -1 with the message kept in
 * the context (api->errmsg).
 */
#ifndef SPINDLE_PLUGIN_H
#define SPINDLE_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#define SPINDLE_PLUGIN_ABI 1

enum spindle_type {
  SPINDLE_T_NONE = 0,     /* "none": nothing (a proc that returns nothing) */
  SPINDLE_T_INT = 1,      /* u.i: 64-bit */
  SPINDLE_T_BIGINT = 2,   /* GMP integer */
  SPINDLE_T_STRING = 3,
  SPINDLE_T_LIST = 4,
  SPINDLE_T_INTVEC = 5,
  SPINDLE_T_PROC = 6,     /* a script proc */
  SPINDLE_T_BUILTIN = 7,  /* a C function (builtin, plugin or native) */
  SPINDLE_T_QUOTE = 8,    /* quote(expr): an expression not yet evaluated */
  SPINDLE_T_FIRST_USER = 32
};

typedef struct spindle_value {
  uint32_t type;          /* enum spindle_type or a plugin type code */
  uint32_t pad_;
  union { int64_t i; void *p; } u;
} spindle_value;

typedef struct sl_ctx spindle_ctx;   /* an execution context (opaque) */
typedef struct spindle_reg spindle_reg;

typedef int (*spindle_rawfn)(spindle_ctx *ctx, int argc, spindle_value *argv,
                             spindle_value *ret);
/* Poll function: called when *poll_flag is non-zero at a call or loop
 * back-edge. Return 0 to go on, non-zero to cancel: the running script
 * then unwinds with the error "cancelled". It may block or switch fibers. */
typedef int (*spindle_pollfn)(void *ud);

typedef struct spindle_type_desc {
  const char *name;                       /* typeof(x) */
  /* append a display of ptr to buf (NUL-terminated, at most size bytes) */
  void (*print)(void *ptr, char *buf, size_t size);
  void (*retain)(void *ptr);              /* may be NULL */
  void (*release)(void *ptr);             /* last reference gone; may be NULL */
  int (*equal)(void *a, void *b);         /* may be NULL: pointer equality */
} spindle_type_desc;

/* What a variable declared with a plugin type does (api->def_type_ext);
 * any member may be NULL / 0. */
typedef struct spindle_type_ext {
  size_t size;            /* sizeof(spindle_type_ext) */
  /* `T x;` without a value: *out becomes x's value (else x is none) */
  int (*init)(spindle_ctx *ctx, spindle_value *out);
  /* `T x = a, b;`, `x = a, b;` on a variable declared T (or holding a T at
   * top level), when the right side is not a T: convert the argc values
   * of the right side into *out, or return api->error(...) */
  int (*assign)(spindle_ctx *ctx, int argc, const spindle_value *argv, spindle_value *out);
  /* `x;` prints an empty line after the display (Singular's newstruct
   * types with a print procedure do; print(x) does not) */
  int blank_line;
} spindle_type_ext;

struct spindle_api {
  int abi;                /* SPINDLE_PLUGIN_ABI */
  size_t size;            /* sizeof(struct spindle_api) */
  /* registration (only inside spindle_plugin_init) */
  int (*def)(spindle_reg *r, const char *name, const char *sig, void *fn);
  int (*def_raw)(spindle_reg *r, const char *name, spindle_rawfn fn);
  int (*def_type)(spindle_reg *r, const spindle_type_desc *desc);
  int (*on_context)(spindle_reg *r, void (*created)(spindle_ctx *),
                    void (*destroyed)(spindle_ctx *));
  int (*fail)(spindle_reg *r, const char *msg);
  /* execution contexts */
  spindle_ctx *(*new_context)(spindle_ctx *parent);  /* shares the globals */
  void (*free_context)(spindle_ctx *ctx);
  void **(*userdata)(spindle_ctx *ctx, int i);        /* 4 slots, i in 0..3 */
  void (*set_poll)(spindle_ctx *ctx, const volatile int *flag,
                   spindle_pollfn fn, void *ud);
  /* running code: all return 0, or -1 with api->errmsg(ctx) set */
  int (*call)(spindle_ctx *ctx, spindle_value fn, int argc,
              const spindle_value *argv, spindle_value *ret);
  /* name: "foo", "Pkg::foo" (Pkg's foo, else the global foo) or "Current::foo" */
  int (*call_name)(spindle_ctx *ctx, const char *name, int argc,
                   const spindle_value *argv, spindle_value *ret);
  int (*execute)(spindle_ctx *ctx, const char *code);
  int (*execute_file)(spindle_ctx *ctx, const char *path);
  int (*eval)(spindle_ctx *ctx, spindle_value quote, spindle_value *ret);
  int (*lookup)(spindle_ctx *ctx, const char *name, spindle_value *ret);
  const char *(*errmsg)(spindle_ctx *ctx);
  void (*clear_error)(spindle_ctx *ctx);
  int (*error)(spindle_ctx *ctx, const char *fmt, ...);   /* returns -1 */
  /* values */
  void (*retain)(spindle_value v);
  void (*release)(spindle_value v);
  spindle_value (*make_int)(int64_t i);
  spindle_value (*make_bigint)(const char *decimal);
  spindle_value (*make_string)(const char *s, size_t len);
  spindle_value (*make_list)(size_t n);     /* n elements, all none */
  spindle_value (*make_intvec)(size_t n, const int64_t *v);
  spindle_value (*make_user)(int type, void *ptr);
  spindle_value (*none)(void);
  /* inspect: these borrow; a wrong type gives 0 / NULL */
  const char *(*string_ptr)(spindle_value v, size_t *len);
  size_t (*length)(spindle_value v);        /* list / intvec / string */
  spindle_value (*list_get)(spindle_value l, size_t i);  /* 0-based, borrowed */
  /* set element i of a list you own and nobody shares yet (takes x's ref) */
  void (*list_set)(spindle_value l, size_t i, spindle_value x);
  int64_t (*intvec_get)(spindle_value v, size_t i);
  void *(*user_ptr)(spindle_value v, int type);
  const char *(*type_name)(spindle_value v);
  char *(*to_string)(spindle_value v);      /* display form; free() it */
  char *(*bigint_str)(spindle_value v);     /* decimal; free() it */
  int (*is_quote_of)(spindle_value v, char **src);  /* quote's text; free() */
  const char *(*proc_name)(spindle_value fn);
  /* Added within ABI 1: present when api->size covers them. */
  /* declarations and assignments of a type registered with def_type */
  int (*def_type_ext)(spindle_reg *r, int type, const spindle_type_ext *ext);
  /* system("what", args...) calls fn with the args after "what" */
  int (*def_system)(spindle_reg *r, const char *what, spindle_rawfn fn);
  /* the value codec, for values that cross a process (lang/codec.c):
   * int, bigint, string, list, intvec and none, sharing kept. encode sets
   * *bytes (malloc'ed: free() it) and *len; decode checks every length.
   * Both return 0, or -1 with api->errmsg(ctx) set. */
  int (*encode)(spindle_ctx *ctx, spindle_value v, char **bytes, size_t *len);
  int (*decode)(spindle_ctx *ctx, const void *bytes, size_t len, spindle_value *out);
  /* a script run (not the REPL) that gets SIGINT or SIGTERM calls fn(signo)
   * once, on the program's signal thread, before the script unwinds: the
   * threads plugin shuts the runtime down there (jobs cancelled, pools
   * closed), so that a script waiting on a job ends too */
  int (*on_signal)(spindle_reg *r, void (*fn)(int signo));
  /* Mirroring this process's script in another (the cluster plugin's
   * ranks). proc_source: a script proc's definition as source text,
   * "proc NAME(PARAMS) {BODY}" (malloc'ed: free() it), *file and *line
   * where its body starts; NULL for anything else (NAME is "P::f" for a
   * proc of package P: compiled so, its free names are P's first). make_proc
   * compiles such a text into a proc value (not bound to any name). */
  char *(*proc_source)(spindle_value fn, const char **file, int *line);
  int (*make_proc)(spindle_ctx *ctx, const char *text, const char *file, int line, spindle_value *out);
  /* globals_changed calls fn for each global written since the last call
   * (every defined one on the first call, which turns tracking on):
   * value borrowed, SPINDLE_T_NONE with decl -1 when it was killed;
   * decl is its declared type (SPINDLE_T_*, 10 for def, or a plugin
   * type code). set_global declares name with decl (a built-in type code,
   * or -1 for def) and value v (borrowed), quietly; decl -2 kills it.
   * A variable x of package P is the global named "P::x"; the package
   * value itself (P) cannot be encoded and is reported as a value. */
  void (*globals_changed)(spindle_ctx *ctx, void (*fn)(void *ud, const char *name, spindle_value v, int decl),
                          void *ud);
  int (*set_global)(spindle_ctx *ctx, const char *name, spindle_value v, int decl);
  /* the i-th plugin or library loaded (in order: "x.so" for plugins, a
   * path for libraries), NULL past the last */
  const char *(*loaded)(int i);
  /* services between plugins: provide registers iface under name (during
   * init); service finds it (NULL until a plugin provides it) */
  int (*provide)(spindle_reg *r, const char *name, void *iface);
  void *(*service)(const char *name);
  /* an interactive session's interrupt flag (the REPL's Ctrl-C, the
   * Jupyter kernel's interrupt): non-zero from the interrupt until the
   * next evaluation starts; NULL in a script run (its signals go to
   * on_signal). A plugin whose function blocks the session's thread
   * ends that wait when the flag is set (the threads plugin: waitJob,
   * receiveChannel, ... fail with "interrupted"; the jobs go on). */
  const volatile int *(*interrupt_flag)(void);
};

struct spindle_reg {
  int abi;                        /* SPINDLE_PLUGIN_ABI of the interpreter */
  const struct spindle_api *api;
  const char *name;               /* the plugin's file name as loaded */
  spindle_ctx *ctx;               /* the context that loads it */
  void *internal_;
};

/* The service "ssi:fork" (api->provide; the threads plugin provides it):
 * Singular's `link l = "ssi:fork";` on jobs instead of a forked process.
 * The interpreter's link type (lang/link.c) keeps an open link's handle
 * and calls these; none is called with a pthread mutex of the caller
 * held (each may reach a safe point). A handle is reference counted:
 * open returns one reference, close drops it (and ends the link: what
 * runs is cancelled, unread results dropped, waiters told). */
typedef struct spindle_fork_iface {
  size_t size;                                     /* sizeof(spindle_fork_iface) */
  void *(*open)(spindle_ctx *ctx);                 /* NULL with api->errmsg set */
  void (*retain)(void *h);
  void (*release)(void *h);
  void (*close)(void *h);
  /* queue v for the link's job: a quote is evaluated there, in order,
   * any other value comes back as it is */
  int (*write)(spindle_ctx *ctx, const char *who, void *h, spindle_value v);
  /* the oldest result not read yet, waiting for it */
  int (*read)(spindle_ctx *ctx, const char *who, void *h, spindle_value *ret);
  int (*ready)(void *h);                           /* 1: a read would not wait */
  /* Singular's waitfirst (all 0) and waitall (all 1) over n handles (NULL
   * entries skipped): *ret as Singular's (the index of a ready link, 1 when
   * all are, 0 when timeout_ms passed, -1 for no links); timeout_ms < 0
   * waits without end (an error when it would never end: a link with
   * nothing written and unread), 0 polls */
  int (*wait)(spindle_ctx *ctx, const char *who, void **h, int n, int all, long timeout_ms, int *ret);
} spindle_fork_iface;

#define SPINDLE_PLUGIN_CHECK(reg)                                            \
  do {                                                                       \
    if ((reg)->abi != SPINDLE_PLUGIN_ABI)                                     \
      return (reg)->api->fail((reg), "plugin built for another ABI version"); \
  } while (0)

int spindle_plugin_init(spindle_reg *reg);

#endif
