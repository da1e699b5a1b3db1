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

int spindle_plugin_abi = SPINDLE_PLUGIN_ABI;

int spindle_plugin_init(spindle_reg *reg) {
  SPINDLE_PLUGIN_CHECK(reg);
  api = reg->api;
  static const spindle_type_desc desc = {"counter", counter_print, NULL, counter_release, counter_equal};
  counter_type = api->def_type(reg, &desc);
  if (counter_type < 0) return api->fail(reg, "cannot register type counter");
  api->def(reg, "exAdd", "long(long,long)", (void *)ex_add);
  api->def(reg, "exGreet", "string(string,int)", (void *)ex_greet);
  api->def(reg, "exCounter", "def(long)", (void *)ex_counter);
  api->def(reg, "exCounterValue", "long(counter)", (void *)ex_counter_value);
  api->def_raw(reg, "exSum", ex_sum);
  return 0;
}
