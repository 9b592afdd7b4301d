#include "settings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "topic.h"

namespace gwlink {

namespace {

const uint8_t kUsablePins[] = {4, 5, 12, 13, 14};

struct Role {
  const char* word;
  PinRole role;
};
const Role kRoles[] = {{"contact", kPinContact}, {"button", kPinButton}, {"motion", kPinMotion},
                       {"relay", kPinRelay},     {"led", kPinLed}};

bool fail(char* error, size_t cap, const char* what, const char* detail) {
  snprintf(error, cap, "%s%s%s", what, detail[0] ? ": " : "", detail);
  return false;
}

// Copies value into a field of `cap` bytes; false if it does not fit.
bool copy(char* field, size_t cap, const char* value) {
  size_t n = strlen(value);
  if (n >= cap) return false;
  memcpy(field, value, n + 1);
  return true;
}

bool parse_number(const char* text, long lo, long hi, long* out) {
  char* end = 0;
  long v = strtol(text, &end, 10);
  if (text[0] == 0 || *end != 0 || v < lo || v > hi) return false;
  *out = v;
  return true;
}

// Splits "a:b:c" in place at ':' into at most `max` parts; returns the count.
size_t split(char* text, char** parts, size_t max) {
  size_t n = 0;
  parts[n++] = text;
  for (char* p = text; *p; ++p) {
    if (*p != ':') continue;
    if (n == max) return max + 1;
    *p = 0;
    parts[n++] = p + 1;
  }
  return n;
}

bool name_taken(const NodeSettings& s, const char* name) {
  for (size_t i = 0; i < s.n_inputs; ++i) {
    if (strcmp(s.inputs[i].name, name) == 0) return true;
  }
  for (size_t i = 0; i < s.n_outputs; ++i) {
    if (strcmp(s.outputs[i].name, name) == 0) return true;
  }
  return false;
}

bool pin_taken(const NodeSettings& s, long pin) {
  if (s.dht_pin == pin) return true;
  for (size_t i = 0; i < s.n_inputs; ++i) {
    if (s.inputs[i].pin == pin) return true;
  }
  for (size_t i = 0; i < s.n_outputs; ++i) {
    if (s.outputs[i].pin == pin) return true;
  }
  return false;
}

bool parse_pin(char* spec, NodeSettings* s, char* error, size_t cap) {
  char original[64];
  snprintf(original, sizeof(original), "%s", spec);
  char* parts[5];
  size_t n = split(spec, parts, 4);
  long pin = 0;
  if (n < 2 || n > 4 || !parse_number(parts[0], 0, 99, &pin)) {
    return fail(error, cap, "pin: expected GPIO:kind[:name[:flags]]", original);
  }
  if (!usable_pin(pin)) {
    char detail[96];
    snprintf(detail, sizeof(detail), "%ld is not a usable GPIO (4, 5, 12, 13, 14)", pin);
    return fail(error, cap, "unknown pin", detail);
  }
  if (pin_taken(*s, pin)) {
    char detail[16];
    snprintf(detail, sizeof(detail), "GPIO%ld", pin);
    return fail(error, cap, "pin used twice", detail);
  }
  if (strcmp(parts[1], "dht22") == 0 || strcmp(parts[1], "dht11") == 0) {
    if (n != 2) return fail(error, cap, "pin: a DHT takes no name", original);
    if (s->dht_pin >= 0) return fail(error, cap, "pin: one DHT per node", original);
    s->dht_pin = static_cast<int>(pin);
    s->dht_model = parts[1][3] == '1' ? 11 : 22;
    return true;
  }
  const Role* role = 0;
  for (size_t i = 0; i < sizeof(kRoles) / sizeof(kRoles[0]); ++i) {
    if (strcmp(parts[1], kRoles[i].word) == 0) role = &kRoles[i];
  }
  if (role == 0) {
    return fail(error, cap, "unknown kind (dht22, dht11, contact, button, motion, relay, led)",
                parts[1]);
  }
  if (n < 3 || !valid_name(parts[2])) {
    return fail(error, cap, "bad name (a-z, 0-9, _, at most 32)", n < 3 ? original : parts[2]);
  }
  if (name_taken(*s, parts[2])) return fail(error, cap, "name used twice", parts[2]);
  bool output = role->role == kPinRelay || role->role == kPinLed;
  PinSetting* slot = output ? &s->outputs[s->n_outputs] : &s->inputs[s->n_inputs];
  if ((output ? s->n_outputs : s->n_inputs) == kMaxPins) {
    return fail(error, cap, output ? "more than 8 outputs" : "more than 8 inputs", "");
  }
  memset(slot, 0, sizeof(*slot));
  copy(slot->name, sizeof(slot->name), parts[2]);
  slot->pin = static_cast<uint8_t>(pin);
  slot->role = role->role;
  for (char* flags = n == 4 ? parts[3] : 0; flags && *flags;) {
    char* comma = strchr(flags, ',');
    if (comma) *comma = 0;
    if (!output && strcmp(flags, "invert") == 0) {
      slot->invert = true;
    } else if (output && strcmp(flags, "low") == 0) {
      slot->active_low = true;
    } else if (output && strcmp(flags, "on") == 0) {
      slot->boot = 1;
    } else if (output && strcmp(flags, "restore") == 0) {
      slot->boot = 2;
    } else {
      return fail(error, cap, output ? "unknown flag (low, on, restore)" : "unknown flag (invert)",
                  flags);
    }
    flags = comma ? comma + 1 : 0;
  }
  ++(output ? s->n_outputs : s->n_inputs);
  return true;
}

bool parse_line(char* line, NodeSettings* s, char* error, size_t cap) {
  char* eq = strchr(line, '=');
  if (eq == 0) return fail(error, cap, "expected key=value", line);
  *eq = 0;
  const char* key = line;
  char* value = eq + 1;
  long number = 0;
  if (strcmp(key, "name") == 0 || strcmp(key, "room") == 0) {
    if (!valid_name(value)) return fail(error, cap, "bad name (a-z, 0-9, _, at most 32)", value);
    return copy(key[0] == 'n' ? s->name : s->room, sizeof(s->name), value);
  }
  if (strcmp(key, "wifi_ssid") == 0) {
    return copy(s->wifi_ssid, sizeof(s->wifi_ssid), value) ||
           fail(error, cap, "wifi_ssid longer than 32 bytes", "");
  }
  if (strcmp(key, "wifi_password") == 0) {
    return copy(s->wifi_password, sizeof(s->wifi_password), value) ||
           fail(error, cap, "wifi_password longer than 64 bytes", "");
  }
  if (strcmp(key, "mqtt_user") == 0 || strcmp(key, "mqtt_password") == 0) {
    char* field = key[5] == 'u' ? s->mqtt_user : s->mqtt_password;
    return copy(field, sizeof(s->mqtt_user), value) ||
           fail(error, cap, "MQTT user or password longer than 64 bytes", "");
  }
  if (strcmp(key, "gateway") == 0) {
    char* colon = strchr(value, ':');
    if (colon) {
      *colon = 0;
      if (!parse_number(colon + 1, 1, 65535, &number)) {
        return fail(error, cap, "gateway: bad port", colon + 1);
      }
      s->gateway_port = static_cast<uint16_t>(number);
    }
    if (value[0] == 0 || !copy(s->gateway_host, sizeof(s->gateway_host), value)) {
      return fail(error, cap, "gateway: host empty or longer than 64 bytes", "");
    }
    return true;
  }
  if (strcmp(key, "interval") == 0) {
    if (!parse_number(value, 2, 86400, &number)) {
      return fail(error, cap, "interval: seconds from 2 to 86400", value);
    }
    s->interval_s = static_cast<uint32_t>(number);
    return true;
  }
  if (strcmp(key, "sleep") == 0) {
    if (!parse_number(value, 0, 4000, &number)) {  // the ESP8266 sleeps at most ~71 min
      return fail(error, cap, "sleep: seconds from 0 to 4000", value);
    }
    s->sleep_s = static_cast<uint32_t>(number);
    return true;
  }
  if (strcmp(key, "pin") == 0) return parse_pin(value, s, error, cap);
  return fail(error, cap, "unknown setting", key);
}

}  // namespace

bool usable_pin(long pin) {
  for (size_t i = 0; i < sizeof(kUsablePins); ++i) {
    if (kUsablePins[i] == pin) return true;
  }
  return false;
}

bool parse_settings(const char* text, size_t len, NodeSettings* out, char* error,
                    size_t error_cap) {
  if (len > kMaxSettingsText) return fail(error, error_cap, "settings longer than 768 bytes", "");
  if (memchr(text, 0, len) != 0) return fail(error, error_cap, "settings contain a NUL byte", "");
  NodeSettings& s = *out;  // no copy: ~1 KB is a lot of the ESP8266's RAM and stack
  memset(&s, 0, sizeof(s));
  copy(s.gateway_host, sizeof(s.gateway_host), "gateway.local");
  s.gateway_port = 1883;
  s.interval_s = 30;
  s.dht_pin = -1;
  char line[kMaxSettingsText + 1];
  size_t start = 0;
  while (start < len) {
    size_t end = start;
    while (end < len && text[end] != '\n') ++end;
    size_t n = end - start;
    memcpy(line, text + start, n);
    line[n] = 0;
    if (n && line[n - 1] == '\r') line[n - 1] = 0;
    if (line[0] != 0 && !parse_line(line, &s, error, error_cap)) return false;
    start = end + 1;
  }
  if (s.name[0] == 0 || s.room[0] == 0) return fail(error, error_cap, "name and room are required", "");
  if (s.sleep_s > 0 && s.n_outputs > 0) {
    return fail(error, error_cap, "outputs need sleep=0 (a sleeping node hears no commands)", "");
  }
  return true;
}

bool describe_settings(const NodeSettings& s, char* out, size_t cap) {
  int n = snprintf(out, cap, "name=%s room=%s gateway=%s:%u interval=%lu sleep=%lu pins=", s.name,
                   s.room, s.gateway_host, s.gateway_port, static_cast<unsigned long>(s.interval_s),
                   static_cast<unsigned long>(s.sleep_s));
  if (n < 0 || static_cast<size_t>(n) >= cap) return false;
  size_t used = static_cast<size_t>(n);
  const char* sep = "";
  if (s.dht_pin >= 0) {
    n = snprintf(out + used, cap - used, "%d:dht%u", s.dht_pin, s.dht_model);
    if (n < 0 || used + n >= cap) return false;
    used += n;
    sep = ",";
  }
  const PinSetting* lists[2] = {s.inputs, s.outputs};
  size_t counts[2] = {s.n_inputs, s.n_outputs};
  static const char* const kWords[] = {"contact", "button", "motion", "relay", "led"};
  for (int l = 0; l < 2; ++l) {
    for (size_t i = 0; i < counts[l]; ++i) {
      const PinSetting& p = lists[l][i];
      // Flags as the settings give them, each behind its own colon (a comma separates pins).
      n = snprintf(out + used, cap - used, "%s%u:%s:%s%s%s%s", sep, p.pin, kWords[p.role],
                   p.name, p.invert ? ":invert" : "", p.active_low ? ":low" : "",
                   p.boot == 1 ? ":on" : p.boot == 2 ? ":restore" : "");
      if (n < 0 || used + n >= cap) return false;
      used += n;
      sep = ",";
    }
  }
  if (used == 0 || out[used - 1] == '=') {
    if (used + 5 >= cap) return false;
    memcpy(out + used, "none", 5);
  }
  return true;
}

}  // namespace gwlink
