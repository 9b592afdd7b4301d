// Payload formatting, DHT22 plausibility, topic names and reconnect backoff.
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "gwlink.h"

namespace {
bool formats(float value, uint8_t decimals, const char* expected) {
  char out[24];
  size_t n = gwlink::format_fixed(value, decimals, out, sizeof(out));
  if (n == 0 || strcmp(out, expected) != 0) {
    fprintf(stderr, "format_fixed(%g, %u) gave '%s' (len %zu), expected '%s'\n",
            static_cast<double>(value), decimals, n ? out : "", n, expected);
    return false;
  }
  return n == strlen(expected);
}
}  // namespace

TEST(format_fixed_values) {
  CHECK(formats(21.4f, 1, "21.4"));
  CHECK(formats(21.44f, 1, "21.4"));
  CHECK(formats(21.46f, 1, "21.5"));
  CHECK(formats(-3.25f, 2, "-3.25"));
  CHECK(formats(-0.04f, 1, "0.0"));
  CHECK(formats(0.0f, 0, "0"));
  CHECK(formats(99.95f, 0, "100"));
  CHECK(formats(7.0f, 3, "7.000"));
  CHECK(formats(-40.0f, 1, "-40.0"));
  CHECK(formats(1013.25f, 2, "1013.25"));
}

TEST(format_fixed_rejects) {
  char out[8];
  CHECK_EQ(gwlink::format_fixed(NAN, 1, out, sizeof(out)), 0);
  CHECK_EQ(gwlink::format_fixed(INFINITY, 1, out, sizeof(out)), 0);
  CHECK_EQ(gwlink::format_fixed(-INFINITY, 1, out, sizeof(out)), 0);
  CHECK_EQ(gwlink::format_fixed(1e12f, 1, out, sizeof(out)), 0);
  CHECK_EQ(gwlink::format_fixed(1.0f, 7, out, sizeof(out)), 0);
  CHECK_EQ(gwlink::format_fixed(12345.6f, 1, out, 7), 0);  // needs 8 with the NUL
  CHECK_EQ(gwlink::format_fixed(12345.6f, 1, out, 8), 7);
  CHECK_EQ(gwlink::format_binary(true)[1], 'N');
  CHECK(strcmp(gwlink::format_binary(false), "OFF") == 0);
}

TEST(dht22_plausibility) {
  CHECK_EQ(gwlink::check_dht22(21.4f, 48.0f), gwlink::kDhtOk);
  CHECK_EQ(gwlink::check_dht22(NAN, 48.0f), gwlink::kDhtNoReading);
  CHECK_EQ(gwlink::check_dht22(21.0f, NAN), gwlink::kDhtNoReading);
  CHECK_EQ(gwlink::check_dht22(21.0f, 100.1f), gwlink::kDhtOutOfRange);
  CHECK_EQ(gwlink::check_dht22(21.0f, -0.5f), gwlink::kDhtOutOfRange);
  CHECK_EQ(gwlink::check_dht22(-40.5f, 50.0f), gwlink::kDhtOutOfRange);
  CHECK_EQ(gwlink::check_dht22(80.0f, 100.0f), gwlink::kDhtOk);
}

TEST(topic_names) {
  char out[64];
  CHECK_EQ(gwlink::make_topic(out, sizeof(out), "kitchen", "temperature"), 24);
  CHECK(strcmp(out, "home/kitchen/temperature") == 0);
  CHECK(gwlink::make_topic(out, sizeof(out), "attic", "node_1", "status") > 0);
  CHECK(strcmp(out, "home/attic/node_1/status") == 0);
  CHECK_EQ(gwlink::make_topic(out, sizeof(out), "Kitchen", "temperature"), 0);
  CHECK_EQ(gwlink::make_topic(out, sizeof(out), "kitchen", "temp/x"), 0);
  CHECK_EQ(gwlink::make_topic(out, sizeof(out), "kitchen", "#"), 0);
  CHECK_EQ(gwlink::make_topic(out, sizeof(out), "", "temperature"), 0);
  CHECK_EQ(gwlink::make_topic(out, 10, "kitchen", "temperature"), 0);
  CHECK_EQ(out[0], '\0');
  CHECK(gwlink::valid_name("abcdefghijklmnopqrstuvwxyz012345"));    // 32 chars
  CHECK(!gwlink::valid_name("abcdefghijklmnopqrstuvwxyz0123456"));  // 33 chars
  CHECK(!gwlink::valid_name(0));
}

TEST(backoff_grows_with_jitter_and_resets) {
  gwlink::Backoff b(1000, 8000, 42);
  CHECK(b.ready(0));
  uint32_t now = 5000;
  uint32_t bases[] = {1000, 2000, 4000, 8000, 8000, 8000};
  for (uint32_t base : bases) {
    b.failed(now);
    uint32_t d = b.last_delay();
    CHECK(d >= base - base / 4);
    CHECK(d <= base + base / 4);
    CHECK(!b.ready(now + d - 1));
    CHECK(b.ready(now + d));
    now += d;
  }
  CHECK_EQ(b.failures(), 6);
  b.succeeded();
  CHECK(b.ready(now));
  b.failed(now);
  CHECK(b.last_delay() <= 1250);
}

TEST(backoff_survives_millis_wrap) {
  gwlink::Backoff b(1000, 1000, 7);
  uint32_t now = 0xFFFFFF00u;
  b.failed(now);
  CHECK(!b.ready(now + 10));
  CHECK(b.ready(now + b.last_delay()));  // wraps past zero
}

TEST(backoff_jitter_differs_between_nodes) {
  gwlink::Backoff a(1000, 60000, 1), b(1000, 60000, 2);
  bool differ = false;
  for (int i = 0; i < 5; ++i) {
    a.failed(0);
    b.failed(0);
    differ = differ || a.last_delay() != b.last_delay();
  }
  CHECK(differ);
}

namespace {
// -1: rejected, else the resulting state.
int command(const char* text, bool current) {
  bool on = false;
  if (!gwlink::parse_switch(reinterpret_cast<const uint8_t*>(text), strlen(text), current, &on)) {
    return -1;
  }
  return on ? 1 : 0;
}
}  // namespace

TEST(switch_commands_as_the_gateway_reads_them) {
  const char* ons[] = {"ON", "on", "On", "1", "true", "TRUE", " on\r\n"};
  const char* offs[] = {"OFF", "off", "0", "false", "False", "\toff "};
  for (const char* text : ons) CHECK_EQ(command(text, false), 1);
  for (const char* text : offs) CHECK_EQ(command(text, true), 0);
  CHECK_EQ(command("TOGGLE", false), 1);
  CHECK_EQ(command("toggle", true), 0);
  const char* bad[] = {"", " ", "onn", "of", "2", "yes", "ON OFF", "tru"};
  for (const char* text : bad) CHECK_EQ(command(text, true), -1);
  // Not NUL-terminated: PubSubClient hands the payload as a pointer and a length.
  const uint8_t raw[] = {'o', 'f', 'f', 'x'};
  bool on = true;
  CHECK(gwlink::parse_switch(raw, 3, true, &on));
  CHECK(!on);
}
