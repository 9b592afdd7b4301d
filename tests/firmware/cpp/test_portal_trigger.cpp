// When a node with stored settings gives up on its WiFi and opens the set-up access point
// (firmware/node/portal_trigger.h), on a fake clock: only after five minutes of WiFi down
// without a break, counted again after every moment of WiFi, and right across millis()'s wrap.
#include "../../../firmware/node/portal_trigger.h"

#include "check.h"

namespace {
const uint32_t kAfter = 300000;  // PORTAL_AFTER_S's default, in ms
}

TEST(opens_after_wifi_down_long_enough_from_boot) {
  PortalTrigger t(kAfter);
  CHECK(!t.update(false, 0));
  CHECK(!t.update(false, kAfter - 1));
  CHECK(t.update(false, kAfter));
  CHECK(t.update(false, kAfter + 5000));
}

TEST(never_while_wifi_works) {
  PortalTrigger t(kAfter);
  for (uint32_t now = 0; now < 3 * kAfter; now += 1000) CHECK(!t.update(true, now));
}

TEST(a_moment_of_wifi_starts_the_count_again) {
  PortalTrigger t(kAfter);
  CHECK(!t.update(false, 0));
  CHECK(!t.update(false, kAfter - 10));
  CHECK(!t.update(true, kAfter - 5));    // the router came back
  CHECK(!t.update(false, kAfter));       // lost again: counted from here
  CHECK(!t.update(false, 2 * kAfter - 1));
  CHECK(t.update(false, 2 * kAfter));
}

TEST(counts_across_the_millis_wrap) {
  PortalTrigger t(kAfter);
  uint32_t lost = 0xFFFFFFFFu - 1000;
  CHECK(!t.update(true, lost - 1));
  CHECK(!t.update(false, lost));
  CHECK(!t.update(false, lost + kAfter - 1));  // wrapped, 1 ms short
  CHECK(t.update(false, lost + kAfter));
}
