// A non-blocking retry timer with exponential backoff and jitter, for WiFi, mDNS and MQTT
// reconnects: loop() asks ready(now) instead of sleeping, so it never blocks. Jitter keeps
// several nodes that lost the gateway at the same moment from retrying in lockstep.
#ifndef GWLINK_BACKOFF_H
#define GWLINK_BACKOFF_H

#include <stdint.h>

namespace gwlink {

class Backoff {
 public:
  // Delays grow from min_ms, doubling up to max_ms, each randomised by +-25 %.
  Backoff(uint32_t min_ms, uint32_t max_ms, uint32_t seed = 1);

  // True if an attempt may be made now (always true before the first failure).
  bool ready(uint32_t now_ms) const;
  // Records a failed attempt at now_ms and schedules the next one.
  void failed(uint32_t now_ms);
  // Records success: the next failure starts again from min_ms.
  void succeeded();

  uint32_t failures() const { return failures_; }
  // The delay chosen by the last failed() call.
  uint32_t last_delay() const { return delay_; }

 private:
  uint32_t random();

  uint32_t min_ms_;
  uint32_t max_ms_;
  uint32_t state_;
  uint32_t failures_ = 0;
  uint32_t delay_ = 0;
  uint32_t next_ms_ = 0;
};

}  // namespace gwlink

#endif
