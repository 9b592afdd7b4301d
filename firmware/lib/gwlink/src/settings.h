// The node's run-time settings: parsed from the text the gateway sends over the cable
// (`gateway node setup`) and kept on the node as that same text, so there is one parser
// and one set of rules. One "key=value" per line:
//
//   name=attic_node            node name: MQTT client id, home/<room>/<name>/status
//   room=attic
//   wifi_ssid=... wifi_password=...
//   gateway=gateway.local:1883 mDNS name, DNS name or IPv4 address; port optional
//   mqtt_user=... mqtt_password=...
//   interval=30                seconds between DHT readings (2..86400)
//   sleep=0                    deep sleep seconds between wake-ups (0: always on)
//   pin=14:dht22               also dht11
//   pin=12:contact:door        inputs: contact, button, motion; flag: invert
//   pin=5:relay:fan            outputs: relay, led; flags: low (active low), on, restore
//
// Rules (anything else is refused with a one-line reason, and nothing changes): names
// follow valid_name(); pins are the ones free on a NodeMCU / D1 mini (4, 5, 12, 13, 14);
// a pin and a name are used once; at most 8 inputs, 8 outputs, one DHT; outputs need
// sleep=0 (a sleeping node hears no commands).
#ifndef GWLINK_SETTINGS_H
#define GWLINK_SETTINGS_H

#include <stddef.h>
#include <stdint.h>

namespace gwlink {

const size_t kMaxSettingsText = 768;  // fits one link frame and the EEPROM page
const size_t kMaxPins = 8;

enum PinRole : uint8_t {
  kPinContact, kPinButton, kPinMotion,  // inputs, in sensors.h's InputKind order
  kPinRelay, kPinLed,                   // outputs, in outputs.h's OutputKind order
  kPinDht,
};

struct PinSetting {
  char name[33];
  uint8_t pin;
  PinRole role;
  bool invert;      // inputs
  bool active_low;  // outputs
  uint8_t boot;     // outputs: 0 off, 1 on, 2 restore (outputs.h's BootState)
};

struct NodeSettings {
  char name[33];
  char room[33];
  char wifi_ssid[33];
  char wifi_password[65];
  char gateway_host[65];
  uint16_t gateway_port;
  char mqtt_user[65];
  char mqtt_password[65];
  uint32_t interval_s;
  uint32_t sleep_s;
  int dht_pin;        // -1: none
  uint8_t dht_model;  // 11 or 22
  PinSetting inputs[kMaxPins];
  size_t n_inputs;
  PinSetting outputs[kMaxPins];
  size_t n_outputs;
};

// Parses and checks `text` (len bytes, need not be NUL-terminated) into *out. On failure
// returns false and writes the reason to `error`; *out is then garbage, so parse into a
// scratch copy when the current settings must survive a refusal (the node stores only
// settings that parsed).
bool parse_settings(const char* text, size_t len, NodeSettings* out, char* error,
                    size_t error_cap);

// What a node accepted, for the answer to the gateway: "name=... room=... pins=14:dht22,..."
// (no passwords). Returns false if `cap` is too small.
bool describe_settings(const NodeSettings& s, char* out, size_t cap);

// True if `pin` may carry a sensor or output (the GPIOs free on a NodeMCU / D1 mini).
bool usable_pin(long pin);

}  // namespace gwlink

#endif
