/* sl.h: the language's private header -- everything that crosses files
 * inside lang/. Public names of the plugin ABI live in plugin.h; the value
 * layout here is the same struct (sl_value == spindle_value). */
#ifndef SL_H
#define SL_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <spawn.h>
#include <gmp.h>
#include "plugin.h"

/* ---- values ------------------------------------------------------------ */
/* Type codes: the built-in ones are those of plugin.h; plugin types get
 * codes from SL_T_FIRST_USER up. SL_T_UNDEF marks an unset global slot and
 * SL_T_MULTI an expression list (several values produced by one expression,
 * such as s[2..4]); neither is ever seen by scripts as a value. */
enum {
  SL_T_NONE = SPINDLE_T_NONE, SL_T_INT = SPINDLE_T_INT,
  SL_T_BIGINT = SPINDLE_T_BIGINT, SL_T_STRING = SPINDLE_T_STRING,
  SL_T_LIST = SPINDLE_T_LIST, SL_T_INTVEC = SPINDLE_T_INTVEC,
  SL_T_PROC = SPINDLE_T_PROC, SL_T_BUILTIN = SPINDLE_T_BUILTIN,
  SL_T_QUOTE = SPINDLE_T_QUOTE,
  SL_T_DEF = 10,   /* declaration type only: "any" */
  SL_T_MULTI = 11, SL_T_UNDEF = 12,
  SL_T_PACKAGE = 13,   /* a package (Top, `package P;`): an sl_string of its name */
  SL_T_INTMAT = 20,   /* not in plugin.h: plugins see it as an opaque value */
  SL_T_FIRST_USER = SPINDLE_T_FIRST_USER, SL_T_MAX = 128
};

typedef spindle_value sl_value;

/* Every heap value starts with this header. rc is atomic: values are shared
 * between threads by reference; whoever drops the count to zero frees. */
typedef struct sl_obj {
  _Atomic int32_t rc;
  uint16_t type;
  uint16_t flags;
} sl_obj;

typedef struct sl_string { sl_obj h; size_t len; char s[]; } sl_string;
typedef struct sl_list { sl_obj h; size_t n, cap; sl_value *v; } sl_list;
typedef struct sl_intvec { sl_obj h; size_t n; int64_t v[]; } sl_intvec;
typedef struct sl_bigint { sl_obj h; mpz_t z; } sl_bigint;

struct sl_code;
struct sl_ctx;
typedef int (*sl_cfn)(struct sl_ctx *C, int argc, sl_value *argv, sl_value *ret);

typedef struct sl_proc { sl_obj h; struct sl_code *code; } sl_proc;
typedef struct sl_quote { sl_obj h; struct sl_code *code; sl_string *src; } sl_quote;

/* A builtin: a C function of the interpreter, a plugin's raw function, or a
 * signature-checked function called through libffi (ffi != NULL). */
typedef struct sl_builtin {
  sl_obj h;
  char *name;
  sl_cfn fn;
  struct sl_ffisig *ffi;       /* NULL unless called through libffi */
  void *fnptr;                 /* the C function for ffi calls */
  void *dl;                    /* dlopen handle kept for native() */
} sl_builtin;

typedef struct sl_user { sl_obj h; void *ptr; } sl_user;

struct sl_buf;
struct sl_world;
/* intmat (intmat.c): r x c entries, row by row; immutable once shared,
 * changed in place only while its count is 1 (as lists) */
typedef struct sl_intmat { sl_obj h; size_t r, c; int64_t v[]; } sl_intmat;
static inline sl_intmat *sl_imv(sl_value v) { return (sl_intmat *)v.u.p; }
sl_value sl_intmat_new(size_t r, size_t c);   /* zeros; r*c within limits */
int sl_intmat_arith(struct sl_ctx *C, int op, sl_value a, sl_value b, sl_value *out);
int sl_intmat_index2(struct sl_ctx *C, sl_value m, sl_value i, sl_value j, sl_value *out);
int sl_intmat_setindex2(struct sl_ctx *C, sl_value *m, sl_value i, sl_value j, sl_value x);
/* *v (taken) made an intmat; old: the variable's value before (an intmat
 * it fills, as Singular's `m = 1, 2, 3;`), or none */
int sl_intmat_assign(struct sl_ctx *C, sl_value old, sl_value *v, const char *what);
void sl_intmat_string(struct sl_buf *b, sl_value v, int indent);
void sl_intmat_table(struct sl_buf *b, sl_value v);   /* print(m) */
void sl_intmat_builtins(struct sl_world *W);

/* newstruct types (newstruct.c): a type code from SL_T_FIRST_USER up
 * whose sl_utype has ns set; a value is an sl_struct of ns->n members in
 * declaration order, copy-on-write as lists */
/* an operation installed for a newstruct type (Singular's
 * system("install", type, op, proc, nargs)): op is "+", "==", "[",
 * "print", "string", "size", "=", ... */
typedef struct sl_nsop {
  struct sl_nsop *next;
  char *op;
  int nargs;           /* 1, 2, 3, or 4 for any number */
  sl_value proc;
} sl_nsop;
typedef struct sl_nsdesc {
  int n;
  char **names;
  int *types;          /* SL_T_* of each member (SL_T_DEF: any), or a newstruct code;
                        * SL_T_UNDEF: a type of Singular's algebra (holds nothing) */
  char *spec;          /* normalized: "int x, int y" */
  sl_nsop *_Atomic ops;/* installed operations, newest first (never freed:
                        * readers take no lock) */
} sl_nsdesc;
typedef struct sl_struct { sl_obj h; size_t n; sl_value v[]; } sl_struct;
static inline sl_struct *sl_stv(sl_value v) { return (sl_struct *)v.u.p; }
int sl_is_struct(int type);
const sl_nsdesc *sl_struct_desc(int type);
sl_value sl_struct_copy(sl_value v);
sl_value sl_struct_new(int type, size_t n);   /* n members, all none */
int sl_struct_default(struct sl_ctx *C, int type, sl_value *out);
void sl_struct_string(struct sl_buf *b, sl_value v);
/* define (or find, when the spec is the same) newstruct type name */
int sl_struct_define(struct sl_ctx *C, const char *name, const char *spec, int *type, int *existed);
int sl_member(struct sl_ctx *C, sl_value v, const char *name, sl_value *out);
/* t's value at the path of nel elements (kinds: SL_PATH_*) set to x (taken) */
enum { SL_PATH_INDEX = 0, SL_PATH_INDEX2 = 1, SL_PATH_MEMBER = 2 };
int sl_setpath(struct sl_ctx *C, sl_value *t, int nel, const int *kinds, sl_value *keys, sl_value x);
void sl_struct_builtins(struct sl_world *W);
/* system("install", type, op, proc, nargs) */
int sl_struct_install(struct sl_ctx *C, int argc, sl_value *argv);
/* the proc installed for op on the newstruct type of v taking argc
 * arguments, or NULL (cheap for any other value) */
const sl_value *sl_struct_op(sl_value v, const char *op, int argc);
const sl_value *sl_struct_type_op(int type, const char *op, int argc);
/* builtin name (print, string, size, ...) called on a newstruct with an
 * installed proc for it: the proc's result (print's is dropped, with
 * Singular's warning when it is not none) */
int sl_struct_call(struct sl_ctx *C, const char *name, int argc, sl_value *argv, sl_value *ret);
/* op applied by its installed proc to the argc values argv: 1 (done, *ret
 * set), 0 (none installed for the newstructs among them), or < 0 (the
 * proc's error or quit) */
int sl_struct_apply(struct sl_ctx *C, const char *op, int argc, const sl_value *argv, sl_value *ret);

#define SL_INT(x) ((sl_value){.type = SL_T_INT, .u.i = (x)})
#define SL_NONE ((sl_value){.type = SL_T_NONE})
#define SL_OBJ(t, o) ((sl_value){.type = (t), .u.p = (o)})
#define sl_isobj(v) ((v).type >= SL_T_BIGINT && (v).type != SL_T_DEF && (v).type != SL_T_UNDEF)

/* sl_threaded: 0 while this process has only ever had one thread touching
 * values; then counts are changed with plain loads and stores (no locked
 * instructions). It becomes 1, for good, before a second thread can see
 * any value: when a plugin is loaded or a second context is made. It sits
 * alone on its cache line (world.c): every count change reads it. */
struct sl_threaded_line { _Alignas(64) _Atomic int on; };   /* 64 bytes */
extern struct sl_threaded_line sl_threaded_line;
#define sl_threaded (sl_threaded_line.on)
void sl_set_threaded(void);

/* Immortal objects: once threads exist, procs and builtins bound to global
 * names get SL_RC_IMMORTAL set in their count and are freed only with
 * their world (sl_world_free), which lists them. Every
 * job calls them, so counting them would make all workers write the same
 * cache line on every call (measured: the parallel primes benchmark lost
 * about a fifth of its speedup to it). A count with the bit set is only
 * read, never written, so the line stays shared in every core's cache.
 * sl_unique() is never true for them. */
#define SL_RC_IMMORTAL ((int32_t)1 << 30)
static inline int sl_rc_immortal(int32_t rc) { return (rc & SL_RC_IMMORTAL) != 0; }
struct sl_world;
/* threaded only; procs and builtins; W frees v when it is freed (a value
 * is never shared between worlds) */
void sl_make_immortal(struct sl_world *W, sl_value v);

static inline void sl_retain(sl_value v) {
  if (!sl_isobj(v)) return;
  _Atomic int32_t *rc = &((sl_obj *)v.u.p)->rc;
  int32_t n = atomic_load_explicit(rc, memory_order_relaxed);
  if (sl_rc_immortal(n)) return;
  if (__builtin_expect(atomic_load_explicit(&sl_threaded, memory_order_relaxed), 0)) atomic_fetch_add_explicit(rc, 1, memory_order_relaxed);
  else atomic_store_explicit(rc, n + 1, memory_order_relaxed);
}
void sl_free_obj(sl_obj *o);
static inline void sl_release(sl_value v) {
  if (!sl_isobj(v)) return;
  _Atomic int32_t *rc = &((sl_obj *)v.u.p)->rc;
  int32_t old = atomic_load_explicit(rc, memory_order_relaxed);
  if (sl_rc_immortal(old)) return;
  if (__builtin_expect(atomic_load_explicit(&sl_threaded, memory_order_relaxed), 0)) old = atomic_fetch_sub_explicit(rc, 1, memory_order_acq_rel);
  else atomic_store_explicit(rc, old - 1, memory_order_relaxed);
  if (old == 1) sl_free_obj((sl_obj *)v.u.p);
}
static inline int sl_unique(sl_value v) {
  return atomic_load_explicit(&((sl_obj *)v.u.p)->rc, memory_order_acquire) == 1;
}

void *sl_alloc_obj(size_t size, int type);
sl_value sl_str_new(const char *s, size_t len);
sl_value sl_str(const char *s);
static inline sl_string *sl_sv(sl_value v) { return (sl_string *)v.u.p; }
static inline sl_list *sl_lv(sl_value v) { return (sl_list *)v.u.p; }
static inline sl_intvec *sl_iv(sl_value v) { return (sl_intvec *)v.u.p; }
static inline sl_bigint *sl_bv(sl_value v) { return (sl_bigint *)v.u.p; }
sl_value sl_list_new(size_t cap);
void sl_list_push(sl_value *list, sl_value item);   /* takes item's ref */
sl_value sl_list_copy(sl_value l);
sl_value sl_intvec_new(size_t n);
sl_value sl_bigint_new(void);
sl_value sl_bigint_from_mpz(mpz_srcptr z);  /* demotes nothing */
sl_value sl_bigint_from_i64(int64_t i);
sl_value sl_bigint_norm(sl_value b);         /* stays bigint; for symmetry */
int sl_bigint_fits(sl_value b, int64_t *out);
int sl_equal(sl_value a, sl_value b);

/* string builder */
typedef struct sl_buf { char *s; size_t len, cap; } sl_buf;
void sl_buf_add(sl_buf *b, const char *s, size_t n);
/* room for n more bytes (and the NUL) at the returned b->s + b->len; the
 * caller writes them and adds n to b->len */
char *sl_buf_reserve(sl_buf *b, size_t n);
void sl_oom(void) __attribute__((noreturn));   /* "out of memory", abort */
/* malloc, calloc, realloc, strdup and strndup that never return NULL: on
 * failure they report "out of memory" and abort (sl_oom), where a NULL
 * would otherwise be dereferenced; a size of 0 asks for 1 byte */
void *sl_xmalloc(size_t n) __attribute__((malloc, returns_nonnull));
void *sl_xcalloc(size_t n, size_t size) __attribute__((malloc, returns_nonnull));
void *sl_xrealloc(void *p, size_t n) __attribute__((returns_nonnull));
char *sl_xstrdup(const char *s) __attribute__((malloc, returns_nonnull));
char *sl_xstrndup(const char *s, size_t n) __attribute__((malloc, returns_nonnull));
/* the file's name at the end of a path */
const char *sl_path_base(const char *path);
void sl_buf_puts(sl_buf *b, const char *s);
void sl_buf_printf(sl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sl_buf_free(sl_buf *b);

/* Singular's display: lists as "[1]:" blocks, intvecs "1,2,3". */
void sl_print_value(sl_buf *b, sl_value v, int indent);
void sl_string_value(sl_buf *b, sl_value v);   /* string(v) */
void sl_string_value_dim(sl_buf *b, sl_value v, int dim);   /* dim 2: print's %2s */
/* what `type name;` prints for v: "// name TYPE ..." and its display (the
 * display's own last newline, if any, is left as it is) */
void sl_type_text(sl_buf *b, const char *name, sl_value v);

const char *sl_type_name(int type);

/* ---- value codec (codec.c) --------------------------------------------- */
/* Values that cross a process (cluster pools) as bytes: int, bigint,
 * string, list, intvec, intmat, newstruct values, none; sharing is kept. sl_encode appends to out
 * (0, or -1 with the error set and out unchanged: a type that cannot
 * cross); sl_decode checks every length against the input and sl_limits
 * (0, or -1 with the error set). The format is described in codec.c. */
#define SL_CODEC_VERSION 2
int sl_encode(struct sl_ctx *C, sl_value v, sl_buf *out);
int sl_decode(struct sl_ctx *C, const void *data, size_t len, sl_value *out);

/* ---- Singular's ssi format (ssi.c) ------------------------------------- */
/* The records of Singular's ssi files ("ssi:w file" links) for int,
 * bigint, string, list, intvec, intmat and none; the format is described
 * in ssi.c. sl_ssi_header is the line a file opened for writing starts
 * with. sl_ssi_encode appends v's record (no newline; -1 with the error
 * set, naming fn and file, for a type ssi cannot hold); sl_ssi_decode
 * reads the record at *pos of p[0..len): 0 and *out, 1 at the end of the
 * data, -1 with the error set (a malformed or truncated record, or a type
 * spindle does not have). */
extern const char sl_ssi_header[];
int sl_ssi_encode(struct sl_ctx *C, const char *fn, const char *file, sl_value v, sl_buf *out);
int sl_ssi_decode(struct sl_ctx *C, const char *fn, const char *file, const char *p, size_t len, size_t *pos,
                  sl_value *out);

/* ---- plugin types ------------------------------------------------------ */
typedef struct sl_utype {
  spindle_type_desc d;
  spindle_type_ext x;   /* zeroed unless the plugin set it */
  char *name;
  /* the language's own types (link.c): a display of any length, used
   * instead of d.print */
  void (*show)(sl_buf *b, void *ptr);
  sl_nsdesc *ns;        /* a newstruct type (newstruct.c); NULL for plugin types */
} sl_utype;
/* a new type code for u (name taken from u->name), or -1: the name is
 * taken (*dup = its code) or every code is used */
int sl_utype_register(sl_utype *u, int *dup);
extern sl_utype *sl_utypes[SL_T_MAX];
int sl_utype_find(const char *name);   /* type code, or -1 */
/* One of Singular's algebra types (ring, poly, ideal, matrix, ...), which
 * spindle does not have: its "unknown type" error says so. */
int sl_singular_algebra_type(const char *name);
/* The error for a declaration of type tname, which no plugin defines,
 * and its message alone (malloc'ed; the parser's). */
int sl_unknown_type(struct sl_ctx *C, const char *tname);
char *sl_unknown_type_msg(const char *tname);
/* the declaration hooks of type t (all zero for a type without any) */
static inline const spindle_type_ext *sl_utype_ext(int t) {
  static const spindle_type_ext none;
  return t >= SL_T_FIRST_USER && t < SL_T_MAX && sl_utypes[t] ? &sl_utypes[t]->x : &none;
}
/* the value of `T x;` (none unless T has an init hook); -1: unknown T */
int sl_utype_init(struct sl_ctx *C, const char *tname, sl_value *v);
/* v (taken) converted for a variable of type t through t's assign hook;
 * 0: *v replaced, 1: t has no assign hook (v unchanged), -1: error */
int sl_utype_assign(struct sl_ctx *C, int t, sl_value *v);
/* script runs and signals (main.c): the plugins' hooks for the first
 * SIGINT/SIGTERM, run on the signal thread */
void sl_run_signal_hooks(int signo);
/* a handler of system("what", ...) registered by a plugin, or NULL */
sl_cfn sl_system_handler(const char *what);

/* ---- code -------------------------------------------------------------- */
typedef struct sl_slot sl_slot;
typedef struct sl_code {
  char *name;          /* proc name or "(top)" */
  char *file;
  uint32_t *ins; uint32_t *lines; int nins;
  sl_value *k; int nk;
  sl_slot **g; int ng;                 /* global slots used by this code */
  int nparams, nlocals, maxstack;
  uint8_t *ptypes;                     /* declared parameter types */
  int defparams;                       /* how many of them are def */
  char **pnames;                       /* parameter names */
  int varargs;                         /* last param is "list #"; 2: the hidden
                                        * "(args)" of a proc using branchTo
                                        * (one list argument is not all of them) */
  int line;                            /* line of definition */
  char *src;                           /* proc body text, for printing */
  int src_line;                        /* line of the body's `{` */
  sl_string *text;                     /* the whole source, for warnings */
  int text_line0;                      /* line number of text's first line */
  char **lnames;                       /* names of the locals (nlocals), for `name` */
  char *pkg;                           /* package whose names come first, or NULL (Top) */
  char *example;                       /* a library proc's example block (its text
                                        * between the braces), or NULL */
  /* A quote that takes values when it is made (quote(f(eval(x))), or a
   * local of the proc it is in): caps lists the constants (k) that hold
   * them, ncaps of them, SL_NONE here. OP_QBIND makes a copy of the code
   * with them filled: its base is this code, whose arrays it shares (only
   * its k is its own). */
  int *caps; int ncaps;
  struct sl_code *base;
  _Atomic int32_t rc;                  /* last: sl_code_bind copies the rest */
} sl_code;
/* a copy of the quote code c with its captured constants set to v[0..ncaps) */
sl_code *sl_code_bind(sl_code *c, const sl_value *v);
void sl_code_release(sl_code *c);
/* the library c was loaded from (its file's name, "x.lib"), or NULL */
const char *sl_code_lib(const sl_code *c);
static inline void sl_code_retain(sl_code *c) { atomic_fetch_add(&c->rc, 1); }

/* ---- globals: one table shared by every context ----------------------- */
/* Writers take the slot's spinlock. Readers of a value that needs no
 * count (an int, or an immortal proc or builtin: `plain`) take no lock:
 * a sequence counter (odd while a writer changes the slot) tells them
 * whether what they read is consistent, so reading a global proc or int
 * writes no shared memory. Other values are read under the lock, which
 * is held only to copy the value and bump its count. */
struct sl_slot {
  _Atomic int lock;     /* spinlock over val for writers and counted reads */
  _Atomic uint32_t seq; /* odd while a writer changes val/decl/plain */
  _Atomic uint8_t plain;/* val needs no count: lock-free reads may use it */
  uint8_t decl;         /* declared type (SL_T_DEF for any) */
  sl_value val;         /* SL_T_UNDEF when not defined */
  char *name;
  sl_slot *next;
  uint64_t seq_decl;    /* when last declared: listvar shows newest first */
  struct sl_world *W;   /* the world it names a global of */
  _Atomic uint8_t dirty;/* on the world's list of changed slots */
};
sl_value sl_slot_get_locked(sl_slot *s);
/* a lock-free snapshot of a plain value: 1 with *out set, else 0 */
static inline int sl_slot_try_plain(sl_slot *s, sl_value *out, int *decl) {
  uint32_t q = atomic_load_explicit(&s->seq, memory_order_acquire);
  if ((q & 1) || !atomic_load_explicit(&s->plain, memory_order_relaxed)) return 0;
  out->type = __atomic_load_n(&s->val.type, __ATOMIC_RELAXED);
  out->pad_ = 0;
  out->u.i = __atomic_load_n(&s->val.u.i, __ATOMIC_RELAXED);
  if (decl) *decl = __atomic_load_n(&s->decl, __ATOMIC_RELAXED);
  atomic_thread_fence(memory_order_acquire);
  return atomic_load_explicit(&s->seq, memory_order_relaxed) == q;
}
/* the slot's value, retained; lock-free while single-threaded, and for
 * plain values */
static inline sl_value sl_slot_get(sl_slot *s) {
  sl_value v;
  if (__builtin_expect(atomic_load_explicit(&sl_threaded, memory_order_relaxed), 0)) {
    if (sl_slot_try_plain(s, &v, NULL)) return v;
    return sl_slot_get_locked(s);
  }
  v = s->val;
  sl_retain(v);
  return v;
}
typedef struct sl_world sl_world;
sl_slot *sl_global_slot(sl_world *W, const char *name);  /* creates */
sl_slot *sl_global_find(sl_world *W, const char *name);  /* NULL if none */

void sl_slot_set(sl_slot *s, sl_value v, int decl);      /* takes ref */
/* sl_slot_set, returning the type of the value it replaced, both under
 * the slot's lock: two threads declaring one global at once see one
 * "redefining" between them, never none */
uint32_t sl_slot_declare(sl_slot *s, sl_value v, int decl);
/* a writer that changes s->val in place (slot locked) brackets it */
void sl_slot_write_begin(sl_slot *s);
void sl_slot_write_end(sl_slot *s);
uint32_t sl_slot_peek(sl_slot *s, int *decl);            /* value's type */
void sl_global_names(sl_world *W, void (*f)(sl_slot *, void *), void *ud);
/* Change tracking, for a process that mirrors this one's globals (a
 * cluster's other ranks): off until the first sl_globals_changed, which
 * reports every defined global; later calls report the slots written
 * since the call before (each once). Costs a slot write one load while
 * off, and one more while on. */
void sl_globals_changed(sl_world *W, void (*f)(sl_slot *, void *), void *ud);

/* ---- execution contexts ------------------------------------------------ */
/* The hidden local of a proc that declares names made at run time (int
 * foo(i); with i known only then): a list of name, type, value triples
 * (vm.c, sl_named_local). Names starting with "(" are never a user's. */
#define SL_NAMED_LOCALS "(named locals)"

typedef struct sl_frame {
  sl_code *code;
  uint32_t *pc;
  sl_value *base;
  int entry;     /* returning from this frame returns to C */
  int own;       /* SL_FRAME_OWN: frame holds a reference to code (execute,
                  * LIB); SL_FRAME_TRACED: TRACE said "entering" for it */
  int argc;
} sl_frame;

enum { SL_OK = 0, SL_ERR = -1, SL_QUIT = -2, SL_PUSH = 1 };

struct sl_ctx {
  sl_world *W;
  sl_value *stack, *sp, *stack_end;
  sl_frame *frames; int nframes, maxframes;
  const volatile int *poll_flag;
  int (*poll_fn)(void *ud);
  void *poll_ud;
  void *user[4];              /* per-context data for plugins */
  char *err;                  /* pending error message */
  int quit_code;
  sl_code *push_code;         /* SL_PUSH: code a builtin asks to run */
  sl_value last;              /* "_": value last printed */
  const char *cur_file;
  int errline;
  /* where `x;` displays go instead of stdout (the kernel: its protocol's
   * display messages); NULL for stdout. Not inherited by new contexts. */
  void (*display)(struct sl_ctx *C, const char *text, size_t len);
  /* an if that ended the text run last, for an else that begins the
   * next (compile.c, celse): 0 none, 1 its condition held, 2 it did not */
  int else_state;
  sl_value branch_result;     /* what "(branchTo)" called returned, for "(branch result)" */
};
typedef struct sl_ctx sl_ctx;

sl_world *sl_world_new(void);
void sl_world_free(sl_world *W);
sl_ctx *sl_ctx_new(sl_world *W);
void sl_ctx_free(sl_ctx *C);
int sl_error(sl_ctx *C, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Size limits for one value. A script that grows a value without bound
 * (x = x*x in a loop, s = s + s) gets an error naming the limit instead
 * of exhausting memory or aborting inside GMP ("overflow in mpz type").
 * Process-wide; an embedder (or the fuzz harness) may lower them before
 * running scripts. */
typedef struct {
  uint64_t bigint_bits;   /* bits of one bigint (default 2^30) */
  size_t str_len;         /* bytes of one string (default 2^30) */
  size_t elems;           /* entries of one list or intvec, and of a range
                             or an index (default 100,000,000) */
} sl_limits_t;
extern sl_limits_t sl_limits;

/* Long-running builtins call this in their loops: non-zero (with the
 * error "cancelled" set) when the context's poll hook says stop, the
 * same check the VM makes at calls and loop back-edges, so cancelJob and
 * the REPL's Ctrl-C reach a builtin that takes long. */
static inline int sl_poll(sl_ctx *C) {
  if (__atomic_load_n(C->poll_flag, __ATOMIC_RELAXED) && C->poll_fn && C->poll_fn(C->poll_ud))
    return sl_error(C, "cancelled");
  return 0;
}
void sl_clear_error(sl_ctx *C);

/* compile source text; NULL with C->err set on a syntax error */
sl_code *sl_compile(sl_ctx *C, const char *src, size_t len, const char *file, int line0);
/* a library's code: its top-level procs are also pkg::NAME (LIB) */
sl_code *sl_compile_lib(struct sl_ctx *C, const char *src, size_t len, const char *file, const char *pkg);
/* run code as a new top frame: 0, SL_ERR or SL_QUIT */
int sl_run(sl_ctx *C, sl_code *code, sl_value *ret);
int sl_call_value(sl_ctx *C, sl_value fn, int argc, const sl_value *argv, sl_value *ret);
int sl_run_string(sl_ctx *C, const char *src, const char *file);
/* len bytes of src, its first line numbered line0 */
int sl_run_text(sl_ctx *C, const char *src, size_t len, const char *file, int line0);
int sl_run_file(sl_ctx *C, const char *path);
/* the whole file, NUL-terminated (malloc'ed), or NULL with errno set */
char *sl_read_file(const char *path, size_t *len);
int sl_print_stmt(sl_ctx *C, sl_value v);
int sl_print_out(sl_ctx *C, sl_value v, int stmt);
/* Singular-style warnings, most quoting the current source line (TEXT) */
enum {
  SL_WARN_INLINE,   /* "// ** MSG in line >>TEXT<<" */
  SL_WARN_LINE,     /* "// ** MSG", then "// ** in line >>TEXT<<" */
  SL_WARN_AT,       /* "// ** MSG (TEXT) FILE:LINE" */
  SL_WARN_TEXT,     /* "// ** MSG (TEXT)" */
  SL_WARN_PLAIN,    /* "// ** MSG" */
};
void sl_warn(sl_ctx *C, const char *msg, int how);

/* builtins and their helpers */
void sl_builtins_init(sl_world *W);
/* print's builtin: print(x) gives x's text as a string, as Singular's
 * (what `print(x);` prints); print(x, fmt) the text in a format */
int sl_b_print(sl_ctx *C, int argc, sl_value *argv, sl_value *ret);
/* `print(x);` as a statement (and dbprint): prints that text and a
 * newline as program output, `_` its text (builtins.c) */
int sl_print_direct(sl_ctx *C, sl_value v);
/* a newstruct with an installed print or string proc, or a list of one */
int sl_has_struct_show(sl_value v);
/* v's display ends with a string's own newline (vm.c) */
int sl_ends_in_string_nl(sl_value v);
void sl_link_init(sl_world *W);   /* link.c: links, read/write, dump */
void sl_os_init(sl_world *W);     /* os.c: random, datetime, getenv */
/* system("sh", cmd): the wait status, as Singular gives it (os.c) */
int sl_shell(sl_ctx *C, const char *cmd, sl_value *ret);
/* posix_spawn attributes for a script's child process (os.c): a clean
 * signal mask (script runs block SIGINT and SIGTERM in every thread),
 * SIGPIPE, SIGINT and SIGTERM at their defaults; own_group: a process
 * group of its own, which close ends as a whole */
void sl_spawn_attr(posix_spawnattr_t *at, int own_group);
void sl_def_builtin(sl_world *W, const char *name, sl_cfn fn);
int sl_argc_err(sl_ctx *C, const char *fn, int argc, const char *want);
int sl_arg_err(sl_ctx *C, const char *fn, int i, const char *want, sl_value got);
int sl_convert(sl_ctx *C, int type, sl_value *v, const char *what);
int sl_def_assign(sl_ctx *C, sl_value cur, sl_value *v, const char *what);
int sl_euclid(int64_t x, int64_t n, int mod, int64_t *out);   /* intvec/intmat div and % */
int sl_arith(sl_ctx *C, int op, sl_value a, sl_value b, sl_value *out);
int sl_compare(sl_ctx *C, int op, sl_value a, sl_value b, int *out);
/* Singular's sprintf of argv[0] (the format) with argv[1..] into b */
int sl_format(sl_ctx *C, const char *fname, int argc, sl_value *argv, sl_buf *b);
int sl_index(sl_ctx *C, sl_value a, sl_value i, sl_value *out);
int sl_index2(sl_ctx *C, sl_value a, sl_value i, sl_value n, sl_value *out);
int sl_setindex(sl_ctx *C, sl_value *a, sl_value i, sl_value x);
int sl_truth(sl_ctx *C, sl_value v, int *out);
int sl_flatten(sl_ctx *C, int n, sl_value *v, sl_value *out);
const char *sl_proc_name(sl_value fn);
extern volatile int sl_interrupted;
/* &sl_interrupted while an interactive session (REPL, kernel) runs, set
 * before it evaluates anything; plugins read it (api->interrupt_flag) */
extern const volatile int *sl_session_interrupt;

/* plugins, libraries, paths */
int sl_load_plugin(sl_ctx *C, const char *name);
char *sl_singular_example(const char *file, const char *name);   /* plugin.c */
int sl_find_lib(sl_ctx *C, const char *fn, const char *name, char **path);   /* fn: who asks, for errors */
int sl_lib(sl_ctx *C, const char *fn, sl_value name);
extern const char *sl_srcdir;
int sl_native(sl_ctx *C, const char *lib, const char *sym, const char *sig, sl_value *ret);
int sl_ffi_call(sl_ctx *C, sl_builtin *b, int argc, sl_value *argv, sl_value *ret);
void sl_ffisig_free(struct sl_ffisig *g, void *dl);
extern const char *sl_builddir;   /* set by main when run uninstalled */
extern const struct spindle_api sl_api;

/* packages (package.c): globals of package P are the slots "P::x" */
sl_value sl_package_new(const char *name);
/* " P (N)", " Top (T)", " Foo (S,foo.lib)": Singular's display */
void sl_package_show(sl_buf *b, sl_value pkg);
/* the package made by LIB "foo.lib" (Foo), kept with its file name */
sl_value sl_package_lib(const char *name, const char *file);
int sl_kill_package(sl_ctx *C, sl_slot *s);
/* the globals of the system, not of the script (ARGV, printlevel,
 * newline): listvar, names and dump leave them out */
int sl_system_global(const char *name);
void sl_names_init(sl_world *W);   /* the builtins and globals of names.c */
/* foo(i) where the global foo (slot) cannot be called: the variable
 * "foo(i)" (an intvec index: the expression list of them) */
int sl_call_indexed(sl_ctx *C, void *slot, int argc, sl_value *argv, sl_value *ret);
/* the proc's definition as source text, "proc NAME(PARAMS) {BODY}", with
 * NAME given (a package proc: "P::f"); malloc'ed */
char *sl_proc_text(sl_code *c, const char *name);
/* voice: 1 at top level, 1 more for each proc frame */
int sl_voice(sl_ctx *C);

/* TRACE (Singular's system int): bit 1 traces proc calls ("entering f
 * (level 0)", "leaving  f (level 0)"). Stores to TRACE refresh the VM's
 * copy (sl_trace_stored, from the slot, warning of bits beyond 1;
 * sl_trace_set, from a value), which
 * switches the VM's call instruction to one that traces. */
enum { SL_FRAME_OWN = 1, SL_FRAME_TRACED = 2 };

/* Singular's option(...) (names.c): whether a bit of its second word is
 * set; these two act here (redefinition warnings, "// ** loaded" lines) */
enum { SL_OPT_REDEFINE = 4, SL_OPT_LOADLIB = 6 };
int sl_option(int bit);
void sl_trace_stored(sl_ctx *C);
void sl_trace_set(int on);
/* a variable by its name at run time (`name`, foo(1)): a local of the
 * running frame, else a global; 0 with *out retained, -1 if none */
int sl_lookup_name(sl_ctx *C, const char *name, sl_value *out);
/* f's local declared with a run-time index: its index in the frame's
 * SL_NAMED_LOCALS list (the value's; its type in *type), or -1 */
int sl_named_local(const sl_frame *f, const char *name, int *type);
/* the list of f's run-time-named locals if its local i holds it (name,
 * type, value triples, oldest first), else NULL */
sl_list *sl_named_locals(const sl_frame *f, int i);

/* REPL */
int sl_repl(sl_ctx *C, int quiet);
int sl_source_complete(const char *src);  /* 0 while braces/strings open */
/* The same, fed a piece at a time (zero-initialised): complete once
 * strings, comments and brackets are closed and the text ends with `;` or
 * `}`. */
typedef struct {
  int depth;
  int state;            /* 0 code, 1 string, 2 // comment, 3 block comment */
  int esc, star, slash; /* after a '\\' in a string; a piece ended with '*' in a comment, with '/' */
  char last;            /* the last significant character (0: none yet) */
} sl_scan;
void sl_scan_feed(sl_scan *sc, const char *p, size_t n);
/* lines of stdin read by read("") and pause() (link.c; atomic access):
 * a script piped on stdin counts its line numbers past them */
extern long sl_stdin_lines;
/* Singular's command-line options (main.c): --no-warn silences sl_warn;
 * -u/--user-option's string, what system("--user-option") returns */
extern int sl_no_warnings;
extern const char *sl_user_option;
/* the directories LIB searches after the current one (plugin.c) */
void sl_lib_dirs(sl_buf *b);
int sl_scan_complete(const sl_scan *sc);
/* Tab completion: keywords and defined globals starting with prefix,
 * sorted, each once; a malloc'ed array of *n malloc'ed names */
char **sl_complete_names(sl_world *W, const char *prefix, size_t *n);

/* Jupyter kernel protocol (kernel.c): JSON lines on stdin/stdout; the
 * exit status */
int sl_kernel(sl_ctx *C);

/* ops shared by compiler and VM (arith/compare op codes) */
enum { SL_ADD, SL_SUB, SL_MUL, SL_DIV, SL_IDIV, SL_MOD, SL_POW,
       SL_EQ, SL_NE, SL_LT, SL_LE, SL_GT, SL_GE };

#endif
