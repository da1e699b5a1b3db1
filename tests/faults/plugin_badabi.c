/* plugin_badabi.c: a plugin built for another ABI version, as its
 * exported spindle_plugin_abi says: the interpreter must refuse it before
 * calling its init (tests/scripts/plugin_faults.sing). */
#include <stdlib.h>
#include "plugin.h"

int spindle_plugin_abi = SPINDLE_PLUGIN_ABI + 1;

int spindle_plugin_init(spindle_reg *reg) {
  (void)reg;
  abort();   /* never called */
  return 0;
}
