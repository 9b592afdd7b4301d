// The node's settings on the node: kept in the ESP8266 core's EEPROM emulation (a flash
// sector) as the text `gateway node setup` sent, behind a magic word, length and CRC, so a
// node whose flash was never written (or was cut off mid-write) reads as "no settings".
// New settings arrive as a settings frame on UART0 (SetupPort); the node answers with a
// settings-reply frame and restarts into them.
#ifndef NODE_SETTINGS_STORE_H
#define NODE_SETTINGS_STORE_H

#include <Arduino.h>
#include <EEPROM.h>
#include <gwlink.h>

namespace settings_store {

const uint8_t kMagic[4] = {'G', 'W', 'S', '1'};
const size_t kHeader = 8;  // magic, length (u16 BE), CRC-16 (u16 BE) of the text
const size_t kSize = kHeader + gwlink::kMaxSettingsText;

// Reads the stored text into `text` (kMaxSettingsText + 1 bytes); its length, or 0 if none.
inline size_t load(char* text) {
  EEPROM.begin(kSize);
  uint8_t header[kHeader];
  for (size_t i = 0; i < kHeader; ++i) header[i] = EEPROM.read(i);
  size_t len = (static_cast<size_t>(header[4]) << 8) | header[5];
  if (memcmp(header, kMagic, 4) != 0 || len == 0 || len > gwlink::kMaxSettingsText) return 0;
  for (size_t i = 0; i < len; ++i) text[i] = static_cast<char>(EEPROM.read(kHeader + i));
  text[len] = 0;
  uint16_t crc = gwlink::crc16(reinterpret_cast<const uint8_t*>(text), len);
  if (crc != ((static_cast<uint16_t>(header[6]) << 8) | header[7])) return 0;
  return len;
}

// The settings parser's check plus what only this build knows: a WiFi node cannot reach the
// gateway without a network to join (a serial-transport node needs none).
inline bool parse(const char* text, size_t len, gwlink::NodeSettings* out, char* error,
                  size_t cap) {
  if (!gwlink::parse_settings(text, len, out, error, cap)) return false;
#if defined(NODE_TRANSPORT) && NODE_TRANSPORT == NODE_TRANSPORT_WIFI
  if (out->wifi_ssid[0] == 0) {
    snprintf(error, cap, "wifi_ssid is required: this node reaches the gateway over WiFi");
    return false;
  }
#endif
  return true;
}

inline bool save(const char* text, size_t len) {
  uint16_t crc = gwlink::crc16(reinterpret_cast<const uint8_t*>(text), len);
  uint8_t header[kHeader] = {kMagic[0], kMagic[1], kMagic[2], kMagic[3],
                             static_cast<uint8_t>(len >> 8), static_cast<uint8_t>(len & 0xFF),
                             static_cast<uint8_t>(crc >> 8), static_cast<uint8_t>(crc & 0xFF)};
  for (size_t i = 0; i < len; ++i) EEPROM.write(kHeader + i, static_cast<uint8_t>(text[i]));
  for (size_t i = 0; i < kHeader; ++i) EEPROM.write(i, header[i]);
  return EEPROM.commit();
}

// Checks and stores one settings frame's text and answers with a settings-reply frame on
// `uart`; true when the settings were stored (the caller restarts into them). Shared by the
// set-up port below and a serial node's link, which owns UART0 once the node is set up.
template <class Uart>
bool answer_settings(Uart& uart, const uint8_t* frame_body, size_t len,
                     const char* firmware_version) {
  static gwlink::NodeSettings candidate;
  static uint8_t reply[gwlink::kMaxSettingsText + 64];
  char error[96] = "";
  const char* text = reinterpret_cast<const char*>(frame_body);
  bool ok = parse(text, len, &candidate, error, sizeof(error));
  char accepted[gwlink::kMaxSettingsText];
  if (ok && !gwlink::describe_settings(candidate, accepted, sizeof(accepted))) accepted[0] = 0;
  if (ok && !save(text, len)) {
    ok = false;
    snprintf(error, sizeof(error), "could not write the settings to flash");
  }
  reply[0] = gwlink::kFrameSettingsReply;
  char* body = reinterpret_cast<char*>(reply + 1);
  size_t cap = sizeof(reply) - 3;
  int n = ok ? snprintf(body, cap, "ok %s %s", firmware_version, accepted)
             : snprintf(body, cap, "error %s %s", firmware_version, error);
  size_t body_len = n < 0 ? 0 : (static_cast<size_t>(n) < cap ? n : cap - 1);
  gwlink::write_frame(uart, reply, body_len);
  uart.flush();
  return ok;
}

}  // namespace settings_store

// Listens on UART0 for settings frames while nothing else owns it (always on a WiFi node;
// before it has settings on a serial node, whose link then takes the UART over).
class SetupPort {
 public:
  explicit SetupPort(HardwareSerial& uart) : uart_(uart), decoder_(rx_, sizeof(rx_)) {}

  // Handles what arrived; true once new settings were stored (the caller restarts).
  bool poll(const char* firmware_version) {
    while (uart_.available() > 0) {
      int byte = uart_.read();
      if (byte < 0) break;
      if (decoder_.push(static_cast<uint8_t>(byte)) != gwlink::FrameDecoder::kFrame) continue;
      if (decoder_.type() != gwlink::kFrameSettings) continue;
      if (settings_store::answer_settings(uart_, decoder_.body(), decoder_.body_len(),
                                          firmware_version)) {
        return true;
      }
    }
    return false;
  }

 private:
  HardwareSerial& uart_;
  uint8_t rx_[gwlink::kMaxSettingsText + 8];
  gwlink::FrameDecoder decoder_;
};

#endif
