/* plugin_noentry.c: a shared object without spindle_plugin_init: loading
 * it must fail with a clear message, not crash. */
int not_a_plugin(int x);
int not_a_plugin(int x) { return x + 1; }
