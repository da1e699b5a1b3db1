/* example.c: a tiny spindle plugin -- two signature-checked functions, a
 * raw (variadic) one and a type. Build it as a libtool module; load it
 * with load("example.so"). Everything it uses comes from lang/plugin.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "plugin.h"

static const struct spindle_api *api;
static int counter_type;

static long ex_add(long a, long b) { return a + b; }

static const char *ex_greet(const char *who, int times) {
  static __thread char buf[256];   /* the result is copied at once */
  buf[0] = 0;
  for (int i = 0; i < times && strlen(buf) + strlen(who) + 8 < sizeof buf; i++) {
    strcat(buf, i ? " hello " : "hello ");
    strcat(buf, who);
  }
  return buf;
}

/* the type: a counter object, shared by reference */
typedef struct counter { long n; } counter;

static void counter_print(void *p, char *buf, size_t size) {
  snprintf(buf, size, "<counter %ld>", ((counter *)p)->n);
}
static void counter_release(void *p) { free(p); }
static int counter_equal(void *a, void *b) { return ((counter *)a)->n == ((counter *)b)->n; }

static spindle_value ex_counter(long start) {
  counter *c = malloc(sizeof *c);
  c->n = start;
  return api->make_user(counter_type, c);
}

static long ex_counter_value(void *p) { return ((counter *)p)->n; }

/* sum(...): any number of ints */
static int ex_sum(spindle_ctx *ctx, int argc, spindle_value *argv, spindle_value *ret) {
  int64_t s = 0;
  for (int i = 0; i < argc; i++) {
    if (argv[i].type != SPINDLE_T_INT)
      return api->error(ctx, "exSum: argument %d must be int, not %s", i + 1, api->type_name(argv[i]));
    s += argv[i].u.i;
  }
  *ret = api->make_int(s);
  return 0;
}

/* exCallIn(name, args...): calls a proc by name in a new execution context
 * sharing the globals (what a threads plugin does for a job); an error in
 * it is raised again here */
static int ex_call_in(spindle_ctx *ctx, int argc, spindle_value *argv, spindle_value *ret) {
  if (argc < 1 || argv[0].type != SPINDLE_T_STRING)
    return api->error(ctx, "exCallIn: argument 1 must be string");
  spindle_ctx *c = api->new_context(ctx);
  int rc = api->call_name(c, api->string_ptr(argv[0], NULL), argc - 1, argv + 1, ret);
  if (rc < 0) rc = api->error(ctx, "exCallIn: %s", api->errmsg(c));
  api->free_context(c);
  return rc;
}

/* exCancelAfter(n, name): runs proc name in a new context whose poll
 * function cancels it at the n-th poll; returns the error text */
static const volatile int always = 1;
static int count_down(void *ud) { return --*(long *)ud <= 0; }

static int ex_cancel_after(spindle_ctx *ctx, int argc, spindle_value *argv, spindle_value *ret) {
  if (argc != 2 || argv[0].type != SPINDLE_T_INT || argv[1].type != SPINDLE_T_STRING)
    return api->error(ctx, "exCancelAfter: expected (int, string)");
  long n = (long)argv[0].u.i;
  spindle_ctx *c = api->new_context(ctx);
  api->set_poll(c, &always, count_down, &n);
  spindle_value r;
  if (api->call_name(c, api->string_ptr(argv[1], NULL), 0, NULL, &r) < 0) {
    const char *m = api->errmsg(c);
    *ret = api->make_string(m, strlen(m));
  } else {
    *ret = r;
  }
  api->free_context(c);
  return 0;
}

/* exEvalIn(quote) and exExecIn(string) in a new context */
static int ex_eval_in(spindle_ctx *ctx, int argc, spindle_value *argv, spindle_value *ret) {
  if (argc != 1) return api->error(ctx, "exEvalIn: expected 1 argument");
  spindle_ctx *c = api->new_context(ctx);
  int rc = argv[0].type == SPINDLE_T_STRING ? api->execute(c, api->string_ptr(argv[0], NULL))
                                            : api->eval(c, argv[0], ret);
  if (rc < 0) rc = api->error(ctx, "exEvalIn: %s", api->errmsg(c));
  api->free_context(c);
  return rc;
}

/* `counter c;` is a counter at 0; `counter c = 5;` (and later `c = 7;`)
 * converts an int */
static int counter_init(spindle_ctx *ctx, spindle_value *out) {
  (void)ctx;
  *out = ex_counter(0);
  return 0;
}
static int counter_assign(spindle_ctx *ctx, int argc, const spindle_value *argv, spindle_value *out) {
  if (argc != 1 || argv[0].type != SPINDLE_T_INT)
    return api->error(ctx, "counter: can only be assigned a counter or an int, not %s",
                      argc == 1 ? api->type_name(argv[0]) : "an expression list");
  *out = ex_counter((long)argv[0].u.i);
  return 0;
}

/* system("exPing", x): a request of Singular's system() grab bag */
static int ex_ping(spindle_ctx *ctx, int argc, spindle_value *argv, spindle_value *ret) {
  if (argc != 1) return api->error(ctx, "system(\"exPing\"): expected 1 argument, got %d", argc);
  char *s = api->to_string(argv[0]);
  char buf[256];
  int n = snprintf(buf, sizeof buf, "pong %s", s ? s : "");
  free(s);
  *ret = api->make_string(buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
  return 0;
}

int spindle_plugin_abi = SPINDLE_PLUGIN_ABI;

int spindle_plugin_init(spindle_reg *reg) {
  SPINDLE_PLUGIN_CHECK(reg);
  api = reg->api;
  static const spindle_type_desc desc = {"counter", counter_print, NULL, counter_release, counter_equal};
  counter_type = api->def_type(reg, &desc);
  if (counter_type < 0) return api->fail(reg, "cannot register type counter");
  static const spindle_type_ext ext = {sizeof ext, counter_init, counter_assign, 0};
  api->def_type_ext(reg, counter_type, &ext);
  api->def_system(reg, "exPing", ex_ping);
  api->def(reg, "exAdd", "long(long,long)", (void *)ex_add);
  api->def(reg, "exGreet", "string(string,int)", (void *)ex_greet);
  api->def(reg, "exCounter", "def(long)", (void *)ex_counter);
  api->def(reg, "exCounterValue", "long(counter)", (void *)ex_counter_value);
  api->def_raw(reg, "exSum", ex_sum);
  api->def_raw(reg, "exCallIn", ex_call_in);
  api->def_raw(reg, "exCancelAfter", ex_cancel_after);
  api->def_raw(reg, "exEvalIn", ex_eval_in);
  return 0;
}
