/* plugin_oldabi.c: a plugin built against another plugin.h (simulated:
 * it expects ABI SPINDLE_PLUGIN_ABI + 1) that exports no
 * spindle_plugin_abi and relies on the check in its init, as plugin.h
 * asks: SPINDLE_PLUGIN_CHECK refuses with a message. */
#include "plugin.h"

enum { OTHER_ABI = SPINDLE_PLUGIN_ABI + 1 };  /* what "its" header said */
#undef SPINDLE_PLUGIN_ABI
#define SPINDLE_PLUGIN_ABI OTHER_ABI

int spindle_plugin_init(spindle_reg *reg) {
  SPINDLE_PLUGIN_CHECK(reg);
  return 0;
}
