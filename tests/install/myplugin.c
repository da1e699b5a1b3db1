/* myplugin.c: a third-party plugin, built out of tree against an
 * installed spindle with one pkg-config line (tests/install/outoftree.sh):
 *   cc -o myplugin.so myplugin.c $(pkg-config --cflags --libs spindle-plugin)
 * and loaded with load("myplugin.so") from SPINDLE_PLUGIN_PATH or the
 * directory `pkg-config --variable=plugindir spindle-plugin`. */
#include <spindle/plugin.h>   /* <plugin.h> works too (the .pc's Cflags) */

static const struct spindle_api *api;

/* checked and called through libffi: the interpreter converts the int */
static long my_triple(long x) { return 3 * x; }

/* raw: any arguments; the sum of the ints, an error naming the argument
 * for anything else */
static int my_sum(spindle_ctx *ctx, int argc, spindle_value *argv, spindle_value *ret) {
  int64_t s = 0;
  for (int i = 0; i < argc; i++) {
    if (argv[i].type != SPINDLE_T_INT)
      return api->error(ctx, "mySum: argument %d must be int, not %s", i + 1, api->type_name(argv[i]));
    s += argv[i].u.i;
  }
  *ret = api->make_int(s);
  return 0;
}

int spindle_plugin_abi = SPINDLE_PLUGIN_ABI;

int spindle_plugin_init(spindle_reg *reg) {
  SPINDLE_PLUGIN_CHECK(reg);
  api = reg->api;
  if (api->def(reg, "myTriple", "long(long)", (void *)my_triple) < 0 ||
      api->def_raw(reg, "mySum", my_sum) < 0)
    return api->fail(reg, "myplugin: cannot register its functions");
  return 0;
}
