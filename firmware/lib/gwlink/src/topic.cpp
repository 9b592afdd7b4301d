#include "topic.h"

namespace gwlink {

static const size_t kMaxNameLength = 32;
static const char kRoot[] = "home";

bool valid_name(const char* name) {
  if (name == 0 || name[0] == '\0') return false;
  size_t n = 0;
  for (; name[n] != '\0'; ++n) {
    char c = name[n];
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok || n >= kMaxNameLength) return false;
  }
  return true;
}

namespace {
// Appends `text` at out[*len], keeping room for the NUL; false if it does not fit.
bool append(char* out, size_t cap, size_t* len, const char* text) {
  for (size_t i = 0; text[i] != '\0'; ++i) {
    if (*len + 1 >= cap) return false;
    out[(*len)++] = text[i];
  }
  return true;
}
}  // namespace

size_t make_topic(char* out, size_t cap, const char* room, const char* leaf, const char* sub) {
  if (cap == 0 || !valid_name(room) || !valid_name(leaf)) return 0;
  if (sub != 0 && !valid_name(sub)) return 0;
  size_t len = 0;
  bool ok = append(out, cap, &len, kRoot) && append(out, cap, &len, "/") &&
            append(out, cap, &len, room) && append(out, cap, &len, "/") &&
            append(out, cap, &len, leaf);
  if (ok && sub != 0) ok = append(out, cap, &len, "/") && append(out, cap, &len, sub);
  if (!ok) {
    out[0] = '\0';
    return 0;
  }
  out[len] = '\0';
  return len;
}

}  // namespace gwlink
