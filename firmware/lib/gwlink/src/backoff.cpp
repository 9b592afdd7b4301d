#include "backoff.h"

namespace gwlink {

Backoff::Backoff(uint32_t min_ms, uint32_t max_ms, uint32_t seed)
    : min_ms_(min_ms == 0 ? 1 : min_ms),
      max_ms_(max_ms < min_ms ? min_ms : max_ms),
      state_(seed == 0 ? 0x9E3779B9u : seed) {}

uint32_t Backoff::random() {
  // xorshift32: plenty for jitter, no libc rand() state shared with the sketch.
  state_ ^= state_ << 13;
  state_ ^= state_ >> 17;
  state_ ^= state_ << 5;
  return state_;
}

bool Backoff::ready(uint32_t now_ms) const {
  // Signed difference: correct across the 49-day wrap of millis().
  return failures_ == 0 || static_cast<int32_t>(now_ms - next_ms_) >= 0;
}

void Backoff::failed(uint32_t now_ms) {
  uint32_t base = min_ms_;
  for (uint32_t i = 0; i < failures_ && base < max_ms_; ++i) base *= 2;
  if (base > max_ms_) base = max_ms_;
  ++failures_;
  uint32_t quarter = base / 4;
  uint32_t jitter = quarter == 0 ? 0 : random() % (2 * quarter + 1);
  delay_ = base - quarter + jitter;
  next_ms_ = now_ms + delay_;
}

void Backoff::succeeded() {
  failures_ = 0;
  delay_ = 0;
}

}  // namespace gwlink
