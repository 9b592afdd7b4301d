// Over-the-air updates, the portable parts (docs/contracts.md, "Node firmware updates"):
// the gateway's offer on <p>/<room>/<node>/firmware/offer, the node's reports on
// .../firmware/progress, which offers to act on, and the serial link's image frames
// (UPDATE_READ / UPDATE_DATA / UPDATE_ERROR) with the pull loop that drives them.
//
// No Arduino header: the sketch's ota_http.h / ota_serial.h put these together with the
// core's ESP8266httpUpdate and Updater; the host tests drive them with a fake clock.
#ifndef GWLINK_OTA_H
#define GWLINK_OTA_H

#include <stddef.h>
#include <stdint.h>

namespace gwlink {

// The largest image a node takes: the free sketch space of a 4 MB board's 1 MB sketch
// partition is less than this, so anything larger is a wrong or hostile offer.
const uint32_t kMaxFirmwareSize = 1024UL * 1024UL;
const size_t kMaxVersionLen = 15;
const size_t kMaxUrlLen = 159;

struct FirmwareOffer {
  char version[kMaxVersionLen + 1];
  char md5[33];  // 32 lowercase hex digits
  uint32_t size;
  char url[kMaxUrlLen + 1];  // empty if the offer had none (a serial node needs none)
  uint32_t attempt;          // the offer's "try"
};

enum OfferParse {
  kOfferOk,
  kOfferWithdrawn,  // the empty retained payload: nothing is offered
  kOfferBad,        // malformed: *error says why
};

// Reads {"v":"0.4.0","md5":"<32 hex>","size":345678,"url":"http://...","try":1}. Keys may
// come in any order; unknown keys are skipped. v, md5, size and try are required, size is
// 1..kMaxFirmwareSize.
OfferParse parse_offer(const uint8_t* payload, size_t len, FirmwareOffer* out, char* error,
                       size_t error_cap);

// {"st":"download","v":"0.4.0","pct":42}; pct < 0 leaves it out, err == nullptr too.
// Returns the length, or 0 if `cap` is too small.
size_t format_progress(char* out, size_t cap, const char* state, const char* version, int pct,
                       const char* err);

// Which offers the node acts on: another version than its own, and not the (md5, try)
// pair that failed last since boot (the gateway retries with try + 1).
class OfferGate {
 public:
  bool wanted(const FirmwareOffer& offer, const char* own_version) const;
  void failed(const FirmwareOffer& offer);

 private:
  char failed_md5_[33] = "";
  uint32_t failed_attempt_ = 0;
};

// Progress reports at least every 10 %: true when `done` of `total` reached the next step.
class ProgressSteps {
 public:
  void reset() { next_ = 0; }
  bool due(uint32_t done, uint32_t total, int* pct);

 private:
  int next_ = 0;
};

// 32 hex digits (either case) to 16 bytes; false for anything else.
bool md5_from_hex(const char* hex, uint8_t out[16]);

const uint16_t kMaxUpdateChunk = 256;

// Writes an UPDATE_READ frame: type at [0], body after it, room for the CRC behind it
// (write_frame's layout), so `frame` needs kUpdateReadFrameSize bytes.
const size_t kUpdateReadBody = 16 + 4 + 2;
const size_t kUpdateReadFrameSize = 1 + kUpdateReadBody + 2;
size_t encode_update_read(uint8_t* frame, const uint8_t md5[16], uint32_t offset,
                          uint16_t length);

// UPDATE_DATA body: offset, then the bytes. False if shorter than the offset.
bool decode_update_data(const uint8_t* body, size_t len, uint32_t* offset, const uint8_t** data,
                        size_t* n);
// UPDATE_ERROR body: offset, then a UTF-8 reason (copied NUL-terminated, cut to fit).
bool decode_update_error(const uint8_t* body, size_t len, uint32_t* offset, char* reason,
                         size_t cap);

// The node's side of pulling an image over the link: one read outstanding, repeated after
// kRepeatMs without an answer, given up after kMaxRepeats repeats of one read. The caller
// sends what next_read() asks for and hands in the frames it gets.
class UpdatePuller {
 public:
  static const uint32_t kRepeatMs = 1000;
  static const uint8_t kMaxRepeats = 5;

  enum State { kIdle, kPulling, kDone, kFailed };

  void start(const uint8_t md5[16], uint32_t size, uint32_t now);
  // True when a read is to be sent now (the first, the next, or a repeat); *offset and
  // *length say which. Moves to kFailed after too many repeats.
  bool next_read(uint32_t now, uint32_t* offset, uint16_t* length);
  // An UPDATE_DATA body: true with the chunk to write when it is the one asked for (the
  // puller then moves on); false for a stale or duplicate answer, which is ignored.
  bool on_data(const uint8_t* body, size_t len, const uint8_t** data, size_t* n);
  // An UPDATE_ERROR body for the outstanding read: the pull fails with its reason.
  void on_error(const uint8_t* body, size_t len);

  State state() const { return state_; }
  uint32_t offset() const { return offset_; }
  uint32_t size() const { return size_; }
  const uint8_t* md5() const { return md5_; }
  const char* error() const { return error_; }

 private:
  uint16_t want() const;
  void fail(const char* reason);

  uint8_t md5_[16] = {0};
  uint32_t size_ = 0;
  uint32_t offset_ = 0;
  uint32_t sent_at_ = 0;
  bool outstanding_ = false;
  uint8_t repeats_ = 0;
  State state_ = kIdle;
  char error_[64] = "";
};

}  // namespace gwlink

#endif
