// For a config.h used with the host emulation only: settings the test decides at run time
// (the broker's port is picked by the operating system), read from the environment.
#ifndef EMU_ENV_H
#define EMU_ENV_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

namespace emu {

inline int env_int(const char* name, int fallback) {
  const char* value = getenv(name);
  return value != nullptr && *value != 0 ? atoi(value) : fallback;
}

// `text` with "$GATEWAY_PORT" replaced by that environment variable (1883 if unset): a
// NODE_PRESET pointing at the test's broker.
inline const char* preset(const char* text) {
  static char out[1024];
  static const char kVar[] = "$GATEWAY_PORT";
  const char* at = strstr(text, kVar);
  if (at == nullptr) return text;
  char port[8];
  snprintf(port, sizeof(port), "%d", env_int("GATEWAY_PORT", 1883));
  snprintf(out, sizeof(out), "%.*s%s%s", static_cast<int>(at - text), text, port,
           at + sizeof(kVar) - 1);
  return out;
}

}  // namespace emu

#endif
