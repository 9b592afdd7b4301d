// For a config.h used with the host emulation only: settings the test decides at run time
// (the broker's port is picked by the operating system), read from the environment.
#ifndef EMU_ENV_H
#define EMU_ENV_H

#include <stdlib.h>

namespace emu {

inline int env_int(const char* name, int fallback) {
  const char* value = getenv(name);
  return value != nullptr && *value != 0 ? atoi(value) : fallback;
}

}  // namespace emu

#endif
