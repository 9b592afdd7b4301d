// Debouncing for contacts: a change counts once the input has held it for debounce_ms, so
// a bouncing reed switch publishes one state, not ten. Pure logic: the sketch feeds it
// digitalRead() and millis().
#ifndef GWLINK_DEBOUNCE_H
#define GWLINK_DEBOUNCE_H

#include <stdint.h>

namespace gwlink {

class Debouncer {
 public:
  Debouncer(bool initial, uint32_t debounce_ms)
      : raw_(initial), stable_(initial), debounce_ms_(debounce_ms) {}

  // Feeds the input's level at now_ms; true exactly when the stable state changes.
  bool update(bool raw, uint32_t now_ms);
  bool state() const { return stable_; }

 private:
  bool raw_;
  bool stable_;
  uint32_t debounce_ms_;
  uint32_t changed_ms_ = 0;
};

// "Every interval_ms", without blocking: due() is true at the first call and then once per
// interval, and stays correct across the 49-day wrap of millis().
class Interval {
 public:
  explicit Interval(uint32_t interval_ms) : interval_ms_(interval_ms) {}

  bool due(uint32_t now_ms) {
    if (started_ && now_ms - last_ms_ < interval_ms_) return false;
    started_ = true;
    last_ms_ = now_ms;
    return true;
  }

 private:
  uint32_t interval_ms_;
  uint32_t last_ms_ = 0;
  bool started_ = false;
};

}  // namespace gwlink

#endif
