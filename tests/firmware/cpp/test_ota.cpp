// Over-the-air updates, the portable parts (gwlink/ota.h): the gateway's offer, the node's
// progress reports, which offers it acts on, and pulling an image over the serial link.
#include <string.h>

#include <string>

#include "check.h"
#include "gwlink.h"

namespace {

const char kMd5[] = "0123456789abcdef0123456789ABCDEF";

gwlink::OfferParse parse(const std::string& text, gwlink::FirmwareOffer* offer, char* error,
                         size_t cap) {
  return gwlink::parse_offer(reinterpret_cast<const uint8_t*>(text.data()), text.size(), offer,
                             error, cap);
}

bool refused(const std::string& text, const char* reason) {
  static gwlink::FirmwareOffer offer;
  char error[96] = "";
  gwlink::OfferParse result = parse(text, &offer, error, sizeof(error));
  if (result != gwlink::kOfferBad || strstr(error, reason) == nullptr) {
    fprintf(stderr, "'%s': result=%d error='%s', expected '%s'\n", text.c_str(), result, error,
            reason);
    return false;
  }
  return true;
}

std::string offer_with(const std::string& md5, const std::string& size) {
  return "{\"v\":\"0.4.0\",\"md5\":\"" + md5 + "\",\"size\":" + size +
         ",\"url\":\"http://gw:8080/firmware/node-0.4.0.bin\",\"try\":1}";
}

}  // namespace

TEST(offer_of_the_contract_parses) {
  gwlink::FirmwareOffer offer;
  char error[96] = "x";
  std::string text = "{\"v\": \"0.4.0\", \"md5\": \"" + std::string(kMd5) +
                     "\", \"size\": 345678, \"url\": \"http:\\/\\/10.0.0.2:8080/firmware/node-0.4.0.bin\","
                     " \"try\": 2, \"note\": null, \"extra\": \"x\"}";
  CHECK_EQ(parse(text, &offer, error, sizeof(error)), gwlink::kOfferOk);
  CHECK(strcmp(offer.version, "0.4.0") == 0);
  CHECK(strcmp(offer.md5, "0123456789abcdef0123456789abcdef") == 0);  // lowercased
  CHECK_EQ(offer.size, 345678);
  CHECK(strcmp(offer.url, "http://10.0.0.2:8080/firmware/node-0.4.0.bin") == 0);
  CHECK_EQ(offer.attempt, 2);
  CHECK_EQ(error[0], 0);
}

TEST(empty_offer_is_a_withdrawal) {
  gwlink::FirmwareOffer offer;
  char error[96];
  CHECK_EQ(parse("", &offer, error, sizeof(error)), gwlink::kOfferWithdrawn);
  CHECK_EQ(parse("  \n", &offer, error, sizeof(error)), gwlink::kOfferWithdrawn);
}

TEST(offer_without_url_parses_for_the_serial_node) {
  gwlink::FirmwareOffer offer;
  char error[96];
  std::string text = "{\"try\":1,\"size\":10,\"md5\":\"" + std::string(kMd5) + "\",\"v\":\"1\"}";
  CHECK_EQ(parse(text, &offer, error, sizeof(error)), gwlink::kOfferOk);
  CHECK_EQ(offer.url[0], 0);
}

TEST(malformed_offers_are_refused_with_a_reason) {
  CHECK(refused(offer_with("0123456789abcdef", "100"), "bad md5"));
  CHECK(refused(offer_with(std::string(kMd5) + "00", "100"), "bad md5"));
  CHECK(refused(offer_with("0123456789abcdef0123456789abcdeg", "100"), "bad md5"));
  CHECK(refused(offer_with(kMd5, "0"), "bad size"));
  CHECK(refused(offer_with(kMd5, "1048577"), "bad size"));           // 1 MiB + 1
  CHECK(refused(offer_with(kMd5, "4294967296"), "bad size"));        // past 32 bits
  CHECK(refused(offer_with(kMd5, "99999999999999999999999"), "bad size"));
  CHECK(refused(offer_with(kMd5, "-5"), "bad size"));
  CHECK(refused(offer_with(kMd5, "1.5"), "bad size"));
  CHECK(refused(offer_with(kMd5, "\"100\""), "bad size"));
  CHECK(refused("{\"md5\":\"" + std::string(kMd5) + "\",\"size\":5,\"try\":1}", "without v"));
  CHECK(refused("{\"v\":\"0.4.0\",\"size\":5,\"try\":1}", "without md5"));
  CHECK(refused("{\"v\":\"0.4.0\",\"md5\":\"" + std::string(kMd5) + "\",\"try\":1}", "without size"));
  CHECK(refused("{\"v\":\"0.4.0\",\"md5\":\"" + std::string(kMd5) + "\",\"size\":5}", "without try"));
  CHECK(refused("{\"v\":\"\",\"md5\":\"" + std::string(kMd5) + "\",\"size\":5,\"try\":1}", "bad version"));
  CHECK(refused("{\"v\":\"0.4.0.0.0.0.0.0.0.0\",\"md5\":\"x\"}", "bad version"));
  CHECK(refused("{\"url\":\"http://" + std::string(200, 'a') + "\"}", "bad url"));
  CHECK(refused("[1,2]", "not a JSON object"));
  CHECK(refused("install", "not a JSON object"));
  CHECK(refused("{\"v\":\"0.4.0\"", "not valid JSON"));
  CHECK(refused("{\"v\":\"0.4.0\"} trailing", "not valid JSON"));
  CHECK(refused("{\"v\":\"0.4.0\" \"try\":1}", "not valid JSON"));
  CHECK(refused("{\"v\":\"0.4\\u00e9\"}", "bad version"));
  CHECK(refused("{\"v\":\"0.4.0\",\"x\":{\"a\":1}}", "not valid JSON"));
}

TEST(offer_fields_start_cleared) {
  gwlink::FirmwareOffer offer;
  char error[96];
  CHECK_EQ(parse(offer_with(kMd5, "1048576"), &offer, error, sizeof(error)), gwlink::kOfferOk);
  CHECK_EQ(parse("{}", &offer, error, sizeof(error)), gwlink::kOfferBad);
  CHECK_EQ(offer.version[0], 0);
  CHECK_EQ(offer.size, 0);
}

TEST(progress_reports_are_the_contracts_json) {
  char out[128];
  CHECK(gwlink::format_progress(out, sizeof(out), "idle", "0.4.0", -1, nullptr) > 0);
  CHECK(strcmp(out, "{\"st\":\"idle\",\"v\":\"0.4.0\"}") == 0);
  gwlink::format_progress(out, sizeof(out), "download", "0.4.0", 42, nullptr);
  CHECK(strcmp(out, "{\"st\":\"download\",\"v\":\"0.4.0\",\"pct\":42}") == 0);
  gwlink::format_progress(out, sizeof(out), "failed", "0.4.0", -1, "md5 \"x\"\\\n");
  CHECK(strcmp(out, "{\"st\":\"failed\",\"v\":\"0.4.0\",\"err\":\"md5 \\\"x\\\"\\\\\\u000a\"}") == 0);
  CHECK_EQ(gwlink::format_progress(out, 20, "download", "0.4.0", 42, nullptr), 0);
  CHECK_EQ(out[0], 0);
}

TEST(offer_gate_skips_own_version_and_the_last_failed_try) {
  gwlink::FirmwareOffer offer;
  char error[96];
  CHECK_EQ(parse(offer_with(kMd5, "100"), &offer, error, sizeof(error)), gwlink::kOfferOk);
  gwlink::OfferGate gate;
  CHECK(gate.wanted(offer, "0.3.0"));
  CHECK(!gate.wanted(offer, "0.4.0"));
  gate.failed(offer);
  CHECK(!gate.wanted(offer, "0.3.0"));  // the same (md5, try) again: not retried
  offer.attempt = 2;
  CHECK(gate.wanted(offer, "0.3.0"));   // the gateway's next try
  offer.attempt = 1;
  offer.md5[0] = 'f';
  CHECK(gate.wanted(offer, "0.3.0"));   // another image
}

TEST(progress_steps_at_least_every_ten_percent) {
  gwlink::ProgressSteps steps;
  int pct = -1, reports = 0, last = -1;
  for (uint32_t done = 0; done <= 1000; done += 7) {
    if (steps.due(done, 1000, &pct)) {
      CHECK(pct - last <= 10 || last < 0);
      CHECK(pct >= last + 1);
      last = pct;
      ++reports;
    }
  }
  CHECK(steps.due(1000, 1000, &pct));
  CHECK_EQ(pct, 100);
  CHECK(reports >= 10);
  CHECK(reports <= 11);
  CHECK(!steps.due(1000, 1000, &pct));
  steps.reset();
  CHECK(steps.due(0, 1000, &pct));
  CHECK_EQ(pct, 0);
}

TEST(update_frames_bodies) {
  uint8_t md5[16];
  CHECK(gwlink::md5_from_hex(kMd5, md5));
  CHECK_EQ(md5[0], 0x01);
  CHECK_EQ(md5[15], 0xEF);
  CHECK(!gwlink::md5_from_hex("0123", md5));
  CHECK(!gwlink::md5_from_hex("z123456789abcdef0123456789abcdef", md5));

  uint8_t frame[gwlink::kUpdateReadFrameSize];
  CHECK_EQ(gwlink::encode_update_read(frame, md5, 0x00012345, 256), 22);
  CHECK_EQ(frame[0], gwlink::kFrameUpdateRead);
  CHECK_MEM(frame + 1, md5, 16);
  const uint8_t offset_len[6] = {0x00, 0x01, 0x23, 0x45, 0x01, 0x00};
  CHECK_MEM(frame + 17, offset_len, 6);

  const uint8_t data[] = {0, 0, 1, 0, 0xE9, 0x02};
  uint32_t offset = 0;
  const uint8_t* bytes = nullptr;
  size_t n = 0;
  CHECK(gwlink::decode_update_data(data, sizeof(data), &offset, &bytes, &n));
  CHECK_EQ(offset, 256);
  CHECK_EQ(n, 2);
  CHECK_EQ(bytes[0], 0xE9);
  CHECK(!gwlink::decode_update_data(data, 3, &offset, &bytes, &n));

  const uint8_t error[] = {0, 0, 0, 0, 'n', 'o', '\n', 'x'};
  char reason[5];
  CHECK(gwlink::decode_update_error(error, sizeof(error), &offset, reason, sizeof(reason)));
  CHECK_EQ(offset, 0);
  CHECK(strcmp(reason, "no?x") == 0);
  CHECK(!gwlink::decode_update_error(error, 2, &offset, reason, sizeof(reason)));
}

namespace {
// An UPDATE_DATA body for offset with n bytes of `fill`.
std::string chunk(uint32_t offset, size_t n, char fill) {
  std::string body(4, '\0');
  body[0] = static_cast<char>(offset >> 24);
  body[1] = static_cast<char>(offset >> 16);
  body[2] = static_cast<char>(offset >> 8);
  body[3] = static_cast<char>(offset);
  return body + std::string(n, fill);
}

bool feed(gwlink::UpdatePuller* puller, const std::string& body, size_t* n) {
  const uint8_t* data = nullptr;
  return puller->on_data(reinterpret_cast<const uint8_t*>(body.data()), body.size(), &data, n);
}
}  // namespace

TEST(puller_reads_one_chunk_at_a_time_to_the_end) {
  uint8_t md5[16] = {0};
  gwlink::UpdatePuller puller;
  puller.start(md5, 600, 1000);
  uint32_t offset = 99;
  uint16_t length = 0;
  size_t n = 0;
  CHECK(puller.next_read(1000, &offset, &length));
  CHECK_EQ(offset, 0);
  CHECK_EQ(length, 256);
  CHECK(!puller.next_read(1500, &offset, &length));   // one read outstanding
  CHECK(!feed(&puller, chunk(256, 256, 'b'), &n));     // not the one asked for
  CHECK(feed(&puller, chunk(0, 256, 'a'), &n));
  CHECK_EQ(n, 256);
  CHECK(!feed(&puller, chunk(0, 256, 'a'), &n));       // a duplicate answer
  CHECK(puller.next_read(1500, &offset, &length));
  CHECK_EQ(offset, 256);
  CHECK(feed(&puller, chunk(256, 256, 'b'), &n));
  CHECK(puller.next_read(1500, &offset, &length));
  CHECK_EQ(offset, 512);
  CHECK_EQ(length, 88);                                // the image's end
  CHECK(feed(&puller, chunk(512, 88, 'c'), &n));
  CHECK_EQ(puller.state(), gwlink::UpdatePuller::kDone);
  CHECK(!puller.next_read(9999, &offset, &length));
}

TEST(puller_repeats_after_a_second_and_gives_up_after_five_repeats) {
  uint8_t md5[16] = {0};
  gwlink::UpdatePuller puller;
  puller.start(md5, 1000, 0);
  uint32_t offset = 0;
  uint16_t length = 0;
  uint32_t now = 0;
  CHECK(puller.next_read(now, &offset, &length));
  int repeats = 0;
  for (int step = 0; step < 100 && puller.state() == gwlink::UpdatePuller::kPulling; ++step) {
    now += 100;
    if (puller.next_read(now, &offset, &length)) {
      ++repeats;
      CHECK_EQ(offset, 0);
      CHECK_EQ(now % 1000, 0);  // exactly after each second of silence
    }
  }
  CHECK_EQ(repeats, 5);
  CHECK_EQ(now, 6000);
  CHECK_EQ(puller.state(), gwlink::UpdatePuller::kFailed);
  CHECK(strstr(puller.error(), "no answer at offset 0") != nullptr);
}

TEST(puller_repeat_count_starts_again_for_each_read) {
  uint8_t md5[16] = {0};
  gwlink::UpdatePuller puller;
  puller.start(md5, 512, 0);
  uint32_t offset = 0, now = 0;
  uint16_t length = 0;
  size_t n = 0;
  CHECK(puller.next_read(now, &offset, &length));
  for (int i = 0; i < 4; ++i) CHECK(puller.next_read(now += 1000, &offset, &length));
  CHECK(feed(&puller, chunk(0, 256, 'a'), &n));
  CHECK(puller.next_read(now, &offset, &length));
  for (int i = 0; i < 5; ++i) CHECK(puller.next_read(now += 1000, &offset, &length));
  CHECK_EQ(puller.state(), gwlink::UpdatePuller::kPulling);
  CHECK(!puller.next_read(now += 1000, &offset, &length));
  CHECK_EQ(puller.state(), gwlink::UpdatePuller::kFailed);
}

TEST(puller_fails_on_the_gateways_error_with_its_reason) {
  uint8_t md5[16] = {0};
  gwlink::UpdatePuller puller;
  puller.start(md5, 512, 0);
  uint32_t offset = 0;
  uint16_t length = 0;
  CHECK(puller.next_read(0, &offset, &length));
  std::string stale = chunk(256, 0, 0) + "old";
  puller.on_error(reinterpret_cast<const uint8_t*>(stale.data()), stale.size());
  CHECK_EQ(puller.state(), gwlink::UpdatePuller::kPulling);  // not about this read
  std::string error = chunk(0, 0, 0) + "no image with this md5";
  puller.on_error(reinterpret_cast<const uint8_t*>(error.data()), error.size());
  CHECK_EQ(puller.state(), gwlink::UpdatePuller::kFailed);
  CHECK(strcmp(puller.error(), "gateway: no image with this md5") == 0);
}

TEST(puller_refuses_an_empty_or_oversized_chunk) {
  uint8_t md5[16] = {0};
  gwlink::UpdatePuller puller;
  size_t n = 0;
  uint32_t offset = 0;
  uint16_t length = 0;
  puller.start(md5, 100, 0);
  CHECK(puller.next_read(0, &offset, &length));
  CHECK(!feed(&puller, chunk(0, 101, 'x'), &n));
  CHECK_EQ(puller.state(), gwlink::UpdatePuller::kFailed);
  puller.start(md5, 100, 0);
  CHECK(puller.next_read(0, &offset, &length));
  CHECK(!feed(&puller, chunk(0, 0, 'x'), &n));
  CHECK(strcmp(puller.error(), "image ends early") == 0);
}
