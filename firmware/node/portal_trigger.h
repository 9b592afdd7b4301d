// When a node whose stored WiFi settings do not work opens its set-up access point
// (setup_portal.h): after WiFi has been down for `after_ms` without a break, counted from
// boot or from the moment it was lost. Arduino-free, so the host unit tests drive it with a
// fake clock (tests/firmware/cpp/test_portal_trigger.cpp).
#ifndef NODE_PORTAL_TRIGGER_H
#define NODE_PORTAL_TRIGGER_H

#include <stdint.h>

class PortalTrigger {
 public:
  explicit PortalTrigger(uint32_t after_ms) : after_ms_(after_ms) {}

  // Call on every loop() with the WiFi state; true once WiFi has been down long enough.
  // millis() wraps after 49 days: the unsigned difference stays right across the wrap.
  bool update(bool wifi_up, uint32_t now) {
    if (wifi_up) {
      down_ = false;
      return false;
    }
    if (!down_) {
      down_ = true;
      since_ = now;
    }
    return now - since_ >= after_ms_;
  }

 private:
  uint32_t after_ms_;
  bool down_ = false;
  uint32_t since_ = 0;
};

#endif
