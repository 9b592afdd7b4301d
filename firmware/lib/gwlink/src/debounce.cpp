#include "debounce.h"

namespace gwlink {

bool Debouncer::update(bool raw, uint32_t now_ms) {
  if (raw != raw_) {
    raw_ = raw;
    changed_ms_ = now_ms;  // any edge restarts the wait: bounces never get through
  }
  if (raw_ != stable_ && now_ms - changed_ms_ >= debounce_ms_) {
    stable_ = raw_;
    return true;
  }
  return false;
}

}  // namespace gwlink
