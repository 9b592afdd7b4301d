#include "ota.h"

#include <stdio.h>
#include <string.h>

#include "frame.h"

namespace gwlink {

namespace {

// A flat JSON object's reader: enough for the offer, which the gateway writes with
// Python's json module (strings and non-negative integers, no nesting).
class Json {
 public:
  Json(const uint8_t* p, size_t n) : p_(p), end_(p + n) {}

  void blanks() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\r' || *p_ == '\n')) ++p_;
  }
  bool take(char c) {
    blanks();
    if (p_ < end_ && *p_ == c) {
      ++p_;
      return true;
    }
    return false;
  }
  bool at_end() {
    blanks();
    return p_ == end_;
  }
  bool peek_is(char c) {
    blanks();
    return p_ < end_ && *p_ == c;
  }

  // A string into out (cut short: false); escapes other than \" \\ \/ are refused, as no
  // field of the offer needs them.
  bool string(char* out, size_t cap) {
    if (!take('"')) return false;
    size_t n = 0;
    while (p_ < end_ && *p_ != '"') {
      uint8_t c = *p_++;
      if (c < 0x20) return false;
      if (c == '\\') {
        if (p_ == end_) return false;
        c = *p_++;
        if (c != '"' && c != '\\' && c != '/') return false;
      }
      if (n + 1 >= cap) return false;
      out[n++] = static_cast<char>(c);
    }
    if (p_ == end_) return false;
    ++p_;
    out[n] = 0;
    return true;
  }

  // A non-negative integer of at most 32 bits.
  bool number(uint32_t* out) {
    blanks();
    if (p_ == end_ || *p_ < '0' || *p_ > '9') return false;
    uint64_t v = 0;
    while (p_ < end_ && *p_ >= '0' && *p_ <= '9') {
      v = v * 10 + static_cast<uint64_t>(*p_++ - '0');
      if (v > 0xFFFFFFFFull) return false;
    }
    if (p_ < end_ && (*p_ == '.' || *p_ == 'e' || *p_ == 'E')) return false;
    *out = static_cast<uint32_t>(v);
    return true;
  }

  // Any value of an unknown key: a string, number, true, false or null.
  bool skip_value() {
    char scratch[kMaxUrlLen + 1];
    blanks();
    if (peek_is('"')) return string(scratch, sizeof(scratch));
    size_t n = 0;
    while (p_ < end_ && *p_ != ',' && *p_ != '}' && *p_ != '{' && *p_ != '[') {
      ++p_;
      ++n;
    }
    return n > 0;
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

void set_error(char* error, size_t cap, const char* text) {
  if (cap > 0) snprintf(error, cap, "%s", text);
}

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

uint8_t hex_value(char c) {
  if (c >= '0' && c <= '9') return static_cast<uint8_t>(c - '0');
  if (c >= 'a' && c <= 'f') return static_cast<uint8_t>(c - 'a' + 10);
  return static_cast<uint8_t>(c - 'A' + 10);
}

uint32_t get_u32(const uint8_t* p) {
  return (static_cast<uint32_t>(p[0]) << 24) | (static_cast<uint32_t>(p[1]) << 16) |
         (static_cast<uint32_t>(p[2]) << 8) | p[3];
}

void put_u32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

// Appends `text` with JSON's escapes; false when out of room.
bool append_json_string(char* out, size_t cap, size_t* used, const char* text) {
  for (const char* p = text; *p; ++p) {
    char esc[8];
    unsigned char c = static_cast<unsigned char>(*p);
    if (c == '"' || c == '\\') {
      snprintf(esc, sizeof(esc), "\\%c", c);
    } else if (c < 0x20) {
      snprintf(esc, sizeof(esc), "\\u%04x", c);
    } else {
      esc[0] = static_cast<char>(c);
      esc[1] = 0;
    }
    size_t len = strlen(esc);
    if (*used + len + 1 > cap) return false;
    memcpy(out + *used, esc, len + 1);
    *used += len;
  }
  return true;
}

bool append_raw(char* out, size_t cap, size_t* used, const char* text) {
  size_t len = strlen(text);
  if (*used + len + 1 > cap) return false;
  memcpy(out + *used, text, len + 1);
  *used += len;
  return true;
}

}  // namespace

OfferParse parse_offer(const uint8_t* payload, size_t len, FirmwareOffer* out, char* error,
                       size_t error_cap) {
  memset(out, 0, sizeof(*out));
  set_error(error, error_cap, "");
  Json json(payload, len);
  if (json.at_end()) return kOfferWithdrawn;
  bool have_v = false, have_md5 = false, have_size = false, have_try = false;
  if (!json.take('{')) {
    set_error(error, error_cap, "offer is not a JSON object");
    return kOfferBad;
  }
  bool first = true;
  while (!json.take('}')) {
    if (!first && !json.take(',')) {
      set_error(error, error_cap, "offer is not valid JSON");
      return kOfferBad;
    }
    first = false;
    char key[16];
    if (!json.string(key, sizeof(key)) || !json.take(':')) {
      set_error(error, error_cap, "offer is not valid JSON");
      return kOfferBad;
    }
    bool ok;
    if (strcmp(key, "v") == 0) {
      ok = json.string(out->version, sizeof(out->version)) && out->version[0] != 0;
      if (!ok) set_error(error, error_cap, "bad version");
      have_v = ok;
    } else if (strcmp(key, "md5") == 0) {
      char md5[40];
      ok = json.string(md5, sizeof(md5)) && strlen(md5) == 32;
      for (size_t i = 0; ok && i < 32; ++i) ok = is_hex(md5[i]);
      if (ok) {
        for (size_t i = 0; i < 32; ++i) {
          out->md5[i] = (md5[i] >= 'A' && md5[i] <= 'F') ? static_cast<char>(md5[i] + 32) : md5[i];
        }
        out->md5[32] = 0;
      } else {
        set_error(error, error_cap, "bad md5 (32 hex digits)");
      }
      have_md5 = ok;
    } else if (strcmp(key, "size") == 0) {
      ok = json.number(&out->size) && out->size > 0 && out->size <= kMaxFirmwareSize;
      if (!ok) set_error(error, error_cap, "bad size (1 byte to 1 MiB)");
      have_size = ok;
    } else if (strcmp(key, "url") == 0) {
      ok = json.string(out->url, sizeof(out->url));
      if (!ok) set_error(error, error_cap, "bad url");
    } else if (strcmp(key, "try") == 0) {
      ok = json.number(&out->attempt);
      if (!ok) set_error(error, error_cap, "bad try");
      have_try = ok;
    } else {
      ok = json.skip_value();
      if (!ok) set_error(error, error_cap, "offer is not valid JSON");
    }
    if (!ok) return kOfferBad;
  }
  if (!json.at_end()) {
    set_error(error, error_cap, "offer is not valid JSON");
    return kOfferBad;
  }
  const char* missing = !have_v ? "v" : !have_md5 ? "md5" : !have_size ? "size" : !have_try ? "try" : nullptr;
  if (missing != nullptr) {
    if (error_cap > 0) snprintf(error, error_cap, "offer without %s", missing);
    return kOfferBad;
  }
  return kOfferOk;
}

size_t format_progress(char* out, size_t cap, const char* state, const char* version, int pct,
                       const char* err) {
  if (cap == 0) return 0;
  out[0] = 0;
  size_t used = 0;
  bool ok = append_raw(out, cap, &used, "{\"st\":\"") &&
            append_json_string(out, cap, &used, state) &&
            append_raw(out, cap, &used, "\",\"v\":\"") &&
            append_json_string(out, cap, &used, version) && append_raw(out, cap, &used, "\"");
  if (ok && pct >= 0) {
    char num[16];
    snprintf(num, sizeof(num), ",\"pct\":%d", pct > 100 ? 100 : pct);
    ok = append_raw(out, cap, &used, num);
  }
  if (ok && err != nullptr) {
    ok = append_raw(out, cap, &used, ",\"err\":\"") && append_json_string(out, cap, &used, err) &&
         append_raw(out, cap, &used, "\"");
  }
  ok = ok && append_raw(out, cap, &used, "}");
  if (!ok) {
    out[0] = 0;
    return 0;
  }
  return used;
}

bool OfferGate::wanted(const FirmwareOffer& offer, const char* own_version) const {
  if (strcmp(offer.version, own_version) == 0) return false;
  return !(strcmp(offer.md5, failed_md5_) == 0 && offer.attempt == failed_attempt_);
}

void OfferGate::failed(const FirmwareOffer& offer) {
  memcpy(failed_md5_, offer.md5, sizeof(failed_md5_));
  failed_attempt_ = offer.attempt;
}

bool ProgressSteps::due(uint32_t done, uint32_t total, int* pct) {
  if (total == 0) return false;
  int now = static_cast<int>((static_cast<uint64_t>(done) * 100) / total);
  if (now < next_) return false;
  *pct = now;
  next_ = (now / 10 + 1) * 10;
  return true;
}

bool md5_from_hex(const char* hex, uint8_t out[16]) {
  if (strlen(hex) != 32) return false;
  for (size_t i = 0; i < 32; ++i) {
    if (!is_hex(hex[i])) return false;
  }
  for (size_t i = 0; i < 16; ++i) {
    out[i] = static_cast<uint8_t>(hex_value(hex[2 * i]) << 4 | hex_value(hex[2 * i + 1]));
  }
  return true;
}

size_t encode_update_read(uint8_t* frame, const uint8_t md5[16], uint32_t offset,
                          uint16_t length) {
  frame[0] = kFrameUpdateRead;
  memcpy(frame + 1, md5, 16);
  put_u32(frame + 17, offset);
  frame[21] = static_cast<uint8_t>(length >> 8);
  frame[22] = static_cast<uint8_t>(length & 0xFF);
  return kUpdateReadBody;
}

bool decode_update_data(const uint8_t* body, size_t len, uint32_t* offset, const uint8_t** data,
                        size_t* n) {
  if (len < 4) return false;
  *offset = get_u32(body);
  *data = body + 4;
  *n = len - 4;
  return true;
}

bool decode_update_error(const uint8_t* body, size_t len, uint32_t* offset, char* reason,
                         size_t cap) {
  if (len < 4 || cap == 0) return false;
  *offset = get_u32(body);
  size_t n = len - 4;
  if (n > cap - 1) n = cap - 1;
  for (size_t i = 0; i < n; ++i) {
    uint8_t c = body[4 + i];
    reason[i] = (c < 0x20 || c == 0x7F) ? '?' : static_cast<char>(c);  // one log line
  }
  reason[n] = 0;
  return true;
}

const uint32_t UpdatePuller::kRepeatMs;
const uint8_t UpdatePuller::kMaxRepeats;

void UpdatePuller::start(const uint8_t md5[16], uint32_t size, uint32_t now) {
  memcpy(md5_, md5, sizeof(md5_));
  size_ = size;
  offset_ = 0;
  sent_at_ = now;
  outstanding_ = false;
  repeats_ = 0;
  error_[0] = 0;
  state_ = size == 0 ? kDone : kPulling;
}

uint16_t UpdatePuller::want() const {
  uint32_t left = size_ - offset_;
  return static_cast<uint16_t>(left < kMaxUpdateChunk ? left : kMaxUpdateChunk);
}

void UpdatePuller::fail(const char* reason) {
  snprintf(error_, sizeof(error_), "%s", reason);
  state_ = kFailed;
  outstanding_ = false;
}

bool UpdatePuller::next_read(uint32_t now, uint32_t* offset, uint16_t* length) {
  if (state_ != kPulling) return false;
  if (outstanding_) {
    if (now - sent_at_ < kRepeatMs) return false;
    if (repeats_ >= kMaxRepeats) {
      char reason[64];
      snprintf(reason, sizeof(reason), "no answer at offset %lu",
               static_cast<unsigned long>(offset_));
      fail(reason);
      return false;
    }
    ++repeats_;
  }
  outstanding_ = true;
  sent_at_ = now;
  *offset = offset_;
  *length = want();
  return true;
}

bool UpdatePuller::on_data(const uint8_t* body, size_t len, const uint8_t** data, size_t* n) {
  uint32_t offset = 0;
  if (state_ != kPulling || !outstanding_) return false;
  if (!decode_update_data(body, len, &offset, data, n) || offset != offset_) return false;
  if (*n == 0 || *n > want()) {
    fail(*n == 0 ? "image ends early" : "chunk longer than asked");
    return false;
  }
  offset_ += static_cast<uint32_t>(*n);
  outstanding_ = false;
  repeats_ = 0;
  if (offset_ >= size_) state_ = kDone;
  return true;
}

void UpdatePuller::on_error(const uint8_t* body, size_t len) {
  uint32_t offset = 0;
  char reason[48];
  if (state_ != kPulling || !decode_update_error(body, len, &offset, reason, sizeof(reason))) return;
  if (offset != offset_) return;  // an answer to an earlier read
  char text[64];
  snprintf(text, sizeof(text), "gateway: %s", reason);
  fail(text);
}

}  // namespace gwlink
