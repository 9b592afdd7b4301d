// Debouncing and read intervals: the timing rules behind the node's sensors.
#include <stdint.h>

#include "check.h"
#include "gwlink.h"

TEST(debouncer_ignores_bounces) {
  gwlink::Debouncer d(false, 50);
  CHECK(!d.update(true, 1000));   // edge: wait
  CHECK(!d.update(false, 1010));  // bounce back: the wait restarts
  CHECK(!d.update(true, 1020));
  CHECK(!d.update(true, 1069));
  CHECK(d.update(true, 1070));  // held 50 ms: one change
  CHECK(d.state());
  CHECK(!d.update(true, 2000));  // no repeat while it stays
}

TEST(debouncer_drops_short_pulses) {
  gwlink::Debouncer d(true, 50);
  CHECK(!d.update(false, 100));
  CHECK(!d.update(true, 120));  // back before 50 ms: never reported
  CHECK(!d.update(true, 500));
  CHECK(d.state());
}

TEST(debouncer_across_millis_wrap) {
  gwlink::Debouncer d(false, 50);
  CHECK(!d.update(true, 0xFFFFFFF0u));
  CHECK(d.update(true, 0x00000030u));  // 64 ms later, across the wrap
}

TEST(interval_is_due_first_then_once_per_period) {
  gwlink::Interval every(30000);
  CHECK(every.due(5));
  CHECK(!every.due(6));
  CHECK(!every.due(30004));
  CHECK(every.due(30005));
  CHECK(!every.due(30006));
  gwlink::Interval wraps(1000);
  CHECK(wraps.due(0xFFFFFF00u));
  CHECK(!wraps.due(0x00000100u));  // 512 ms later
  CHECK(wraps.due(0x000002E8u));   // 1000 ms later
}
