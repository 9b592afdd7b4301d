// The node's outputs: relays and LEDs switched over MQTT, as the gateway's own GPIO outputs
// are (same payloads, same boot states, state echoed retained).
#ifndef NODE_OUTPUTS_H
#define NODE_OUTPUTS_H

#include <Arduino.h>

enum OutputKind { RELAY, LED };
enum ActiveLevel { ACTIVE_HIGH, ACTIVE_LOW };
enum BootState { BOOT_OFF, BOOT_ON, BOOT_RESTORE };

// One line of NODE_OUTPUTS.
struct OutputConfig {
  const char* name;
  int pin;
  OutputKind kind;
  ActiveLevel active;
  BootState boot;
};

class SwitchOutput {
 public:
  // Drives the boot state (RESTORE: off until the gateway hands back the last state). The
  // level is latched before the pin becomes an output, so an active-low relay does not
  // click on at boot.
  void begin(const OutputConfig& config) {
    config_ = config;
    on_ = config_.boot == BOOT_ON;
    restoring_ = config_.boot == BOOT_RESTORE;
    digitalWrite(config_.pin, level(on_));
    pinMode(config_.pin, OUTPUT);
  }

  void set(bool on) {
    on_ = on;
    restoring_ = false;  // a command wins over a state still on its way back
    digitalWrite(config_.pin, level(on));
  }

  bool on() const { return on_; }
  bool restoring() const { return restoring_; }
  void restored() { restoring_ = false; }
  const OutputConfig& config() const { return config_; }

 private:
  uint8_t level(bool on) const { return (on == (config_.active == ACTIVE_HIGH)) ? HIGH : LOW; }

  OutputConfig config_ = {"", 0, RELAY, ACTIVE_HIGH, BOOT_OFF};
  bool on_ = false;
  bool restoring_ = false;
};

#endif
