// Set-up without a computer: the node opens its own WiFi access point, gwnode-<chip id>,
// answers every DNS name with its own address (the core's DNSServer), so a phone that joins
// it pops up its captive-portal page, and serves a form (the core's ESP8266WebServer) for
// the settings `gateway node setup` sends over the cable. The form's fields become that
// same settings text, checked by the same parser (settings_store::parse) and kept in the
// same store (settings_store.h): a refused form shows the reason and changes nothing; a
// good one is stored and the node restarts into it.
//
// When: a WiFi node without settings opens it at once and keeps it open. A node with
// settings opens it after its WiFi has been down PORTAL_AFTER_S without a break (see
// portal_trigger.h) and, if nobody uses it for PORTAL_OPEN_S, restarts to try its WiFi
// again. A battery node (sleep > 0) never waits for a phone: it sleeps as before.
//
// Memory: the pages live in flash (PROGMEM) and are streamed through a 256-byte buffer;
// the server and the DNS responder exist only while the portal is open, and the ~2.7 KB a
// form needs to be checked is taken from the heap for that request only.
#ifndef NODE_SETUP_PORTAL_H
#define NODE_SETUP_PORTAL_H

#include <Arduino.h>
#include <DNSServer.h>
#include <ESP8266WebServer.h>
#include <ESP8266WiFi.h>
#include <gwlink.h>

#include <memory>
#include <new>

#include "settings_store.h"

// 5 minutes rides out an access point's reboot (1 to 3 minutes): a power cut that restarts
// the router and the nodes together leaves no node sitting on its set-up page.
#ifndef PORTAL_AFTER_S
#define PORTAL_AFTER_S 300
#endif
// Long enough to fetch a phone and type a WiFi password; short enough that a router that
// was only off for a while gets the node back by itself.
#ifndef PORTAL_OPEN_S
#define PORTAL_OPEN_S 600
#endif
// The access point is open unless config.h defines PORTAL_PASSWORD (8 to 63 characters),
// e.g. one written on a label on the node's case. Open by default: a generic firmware has
// no secret of its own to print, and the page never shows a stored password.
#ifdef PORTAL_PASSWORD
static_assert(sizeof(PORTAL_PASSWORD) >= 9 && sizeof(PORTAL_PASSWORD) <= 64,
              "PORTAL_PASSWORD: WPA2 takes 8 to 63 characters");
#endif

namespace portal_pages {

// "~x" marks where SetupPortal::render() puts a value (see there); the pages use no other '~'.
static const char kForm[] PROGMEM = R"(<!DOCTYPE html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>Set up ~i</title>
<style>body{font-family:sans-serif;max-width:32em;margin:1em auto;padding:0 1em}
label{display:block;margin-top:.8em}input,textarea{width:100%;box-sizing:border-box;
font-size:1em}small{color:#555}.e{background:#fdd;border:1px solid #c00;padding:.5em}</style>
</head><body><h1>Set up ~i</h1><p>Sensor node, firmware ~v. ~s</p>~e
<form method="post" action="/">
<label>Node name <input name="name" value="~n" required></label>
<small>Lower-case letters, digits and _, at most 32: attic_node</small>
<label>Room <input name="room" value="~r" required></label>
<label>WiFi network <input name="wifi_ssid" value="~w"></label>
<label>WiFi password <input name="wifi_password" type="password"></label>~k
<label>Gateway <input name="gateway" value="~g" placeholder="gateway.local:1883"></label>
<label>MQTT user <input name="mqtt_user" value="~u"></label>
<label>MQTT password <input name="mqtt_password" type="password"></label>~k
<label>Reading interval, seconds <input name="interval" value="~t" placeholder="30"></label>
<label>Deep sleep, seconds (0: always on) <input name="sleep" value="~z" placeholder="0"></label>
<label>Pins, one per line <textarea name="pins" rows="5"
placeholder="14:dht22&#10;12:contact:door&#10;5:relay:fan">~p</textarea></label>
<small>GPIO:kind[:name[:flags]]. GPIOs 4, 5, 12, 13, 14; kinds dht22, dht11, contact, button,
motion, relay, led; flags invert (inputs), low, on, restore (outputs).</small>
<p><button type="submit">Save and restart</button></p></form></body></html>
)";

static const char kSaved[] PROGMEM = R"(<!DOCTYPE html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>Saved</title></head>
<body><h1>Saved</h1><p>The node accepted: ~a</p><p>It restarts now, closes this network
and joins ~w. Reconnect your phone to your own WiFi: the node's readings appear on the
gateway's dashboard within a minute.</p></body></html>
)";

static const char kNoSettings[] PROGMEM = "It has no settings yet.";
static const char kWifiFailed[] PROGMEM = "It could not join its WiFi network ";
static const char kKeep[] PROGMEM = "<small>Leave empty to keep the stored one.</small>";

}  // namespace portal_pages

class SetupPortal {
 public:
  enum Result { kOpen, kSaved, kTimedOut };

  explicit SetupPortal(const char* firmware_version) : version_(firmware_version) {}

  bool active() const { return web_ != nullptr; }
  const char* ssid() const { return ssid_; }
  const char* address() const { return address_; }

  // Opens the access point. `failed_ssid`: the stored WiFi network that did not work (the
  // node has settings: the form shows them, keeps stored passwords left empty, and an
  // unused portal times out), or nullptr for a node without settings.
  void begin(const char* failed_ssid, uint32_t now) {
    failed_ssid_ = failed_ssid;
    used_at_ = now;
    snprintf(ssid_, sizeof(ssid_), "gwnode-%06x", static_cast<unsigned>(ESP.getChipId()));
    WiFi.persistent(false);
    WiFi.setAutoReconnect(false);
    WiFi.disconnect();  // a station searching for its network would move the AP's channel
    WiFi.mode(WIFI_AP_STA);
    IPAddress ip(192, 168, 4, 1);
    WiFi.softAPConfig(ip, ip, IPAddress(255, 255, 255, 0));
#ifdef PORTAL_PASSWORD
    WiFi.softAP(ssid_, PORTAL_PASSWORD);
#else
    WiFi.softAP(ssid_);
#endif
    ip_ = WiFi.softAPIP();
    snprintf(address_, sizeof(address_), "%.15s", ip_.toString().c_str());
    dns_ = new DNSServer();
    dns_->setErrorReplyCode(DNSReplyCode::NoError);
    dns_->start(53, "*", ip_);
    web_ = new ESP8266WebServer(80);
    web_->on("/", HTTP_GET, [this]() { render(200, portal_pages::kForm, ""); });
    web_->on("/", HTTP_POST, [this]() { save(); });
    web_->onNotFound([this]() { redirect(); });
    web_->begin();
  }

  // Serves DNS and HTTP; kSaved a moment after new settings were stored (the response is
  // out), kTimedOut when a node with settings had its portal open unused for too long.
  // The caller restarts the node in both cases.
  Result loop(uint32_t now) {
    dns_->processNextRequest();
    web_->handleClient();
    if (saved_) return now - saved_at_ >= 500 ? kSaved : kOpen;
    if (WiFi.softAPgetStationNum() > 0) used_at_ = now;
    if (failed_ssid_ != nullptr && now - used_at_ >= PORTAL_OPEN_S * 1000UL) return kTimedOut;
    return kOpen;
  }

 private:
  // Streams a page through a small buffer: no String is built for it.
  class Writer {
   public:
    explicit Writer(ESP8266WebServer& web) : web_(web) {}
    ~Writer() { flush(); }
    void put(char c) {
      if (used_ == sizeof(buf_)) flush();
      buf_[used_++] = c;
    }
    void text_P(PGM_P s) {
      for (char c; (c = static_cast<char>(pgm_read_byte(s))) != 0; ++s) put(c);
    }
    void escaped(const char* s, size_t len) {
      for (size_t i = 0; i < len; ++i) {
        switch (s[i]) {
          case '&': put_all("&amp;"); break;
          case '<': put_all("&lt;"); break;
          case '>': put_all("&gt;"); break;
          case '"': put_all("&quot;"); break;
          default: put(s[i]);
        }
      }
    }
    void escaped(const char* s) { escaped(s, strlen(s)); }
    void flush() {
      if (used_) web_.sendContent(buf_, used_);
      used_ = 0;
    }

   private:
    void put_all(const char* s) {
      while (*s) put(*s++);
    }
    ESP8266WebServer& web_;
    char buf_[256];
    size_t used_ = 0;
  };

  // What a form needs while it is checked: on the heap for one request only.
  struct Scratch {
    char stored[gwlink::kMaxSettingsText + 1];
    char text[gwlink::kMaxSettingsText + 1];
    gwlink::NodeSettings parsed;
  };

  // The next "key=" line of the settings text at or after `from`: its value and length.
  static const char* stored_value(const char* from, const char* key, size_t* len) {
    size_t key_len = strlen(key);
    for (const char* line = from; line && *line;) {
      const char* end = strchr(line, '\n');
      size_t line_len = end ? static_cast<size_t>(end - line) : strlen(line);
      if (line_len > key_len && memcmp(line, key, key_len) == 0 && line[key_len] == '=') {
        *len = line_len - key_len - 1;
        if (*len && line[key_len + 1 + *len - 1] == '\r') --*len;
        return line + key_len + 1;
      }
      line = end ? end + 1 : nullptr;
    }
    return nullptr;
  }

  static const char* form_name(const char* key) { return strcmp(key, "pin") == 0 ? "pins" : key; }

  // A field's value: what the phone sent (a refused form comes back as typed), else the
  // stored settings (pins one per line), else nothing.
  void field(Writer& w, const char* key, const char* stored) {
    if (web_->method() == HTTP_POST) {
      const String& sent = web_->arg(form_name(key));
      w.escaped(sent.c_str(), sent.length());
      return;
    }
    size_t len = 0;
    for (const char* v = stored ? stored_value(stored, key, &len) : nullptr; v;
         v = stored_value(v + len, key, &len)) {
      w.escaped(v, len);
      if (strcmp(key, "pin") != 0) return;
      w.put('\n');
    }
  }

  // Sends a page; "~x" in it becomes: i the access point's name, v the firmware version,
  // s why the portal is open, e the error (if any), a what was accepted, k a note on
  // stored passwords, and n r w g u t z p the settings' fields.
  void render(int code, PGM_P page, const char* error, const char* accepted = "") {
    std::unique_ptr<char[]> stored;
    if (failed_ssid_ != nullptr && web_->method() != HTTP_POST) {
      stored.reset(new (std::nothrow) char[gwlink::kMaxSettingsText + 1]);
      if (stored && settings_store::load(stored.get()) == 0) stored.reset();
    }
    web_->setContentLength(CONTENT_LENGTH_UNKNOWN);
    web_->sendHeader(F("Cache-Control"), F("no-store"));
    web_->send(code, F("text/html"), emptyString);
    {
      Writer w(*web_);
      for (PGM_P p = page; char c = static_cast<char>(pgm_read_byte(p)); ++p) {
        if (c != '~') {
          w.put(c);
          continue;
        }
        char k = static_cast<char>(pgm_read_byte(++p));
        const char* key = nullptr;
        switch (k) {
          case 'i': w.escaped(ssid_); break;
          case 'v': w.escaped(version_); break;
          case 'a': w.escaped(accepted); break;
          case 's':
            if (failed_ssid_ == nullptr) {
              w.text_P(portal_pages::kNoSettings);
            } else {
              w.text_P(portal_pages::kWifiFailed);
              w.escaped(failed_ssid_);
              w.put('.');
            }
            break;
          case 'e':
            if (error[0]) {
              w.text_P(PSTR("<p class=\"e\">Not saved, nothing changed: "));
              w.escaped(error);
              w.text_P(PSTR("</p>"));
            }
            break;
          case 'k':
            if (failed_ssid_ != nullptr) w.text_P(portal_pages::kKeep);
            break;
          case 'n': key = "name"; break;
          case 'r': key = "room"; break;
          case 'w': key = "wifi_ssid"; break;
          case 'g': key = "gateway"; break;
          case 'u': key = "mqtt_user"; break;
          case 't': key = "interval"; break;
          case 'z': key = "sleep"; break;
          case 'p': key = "pin"; break;
          default: break;
        }
        if (key != nullptr) field(w, key, stored.get());
      }
    }
    web_->sendContent(emptyString);  // the end of the chunked body
  }

  // Appends "key=value\n" to the settings text; false (with the reason) if it cannot.
  static bool append(char* text, size_t* used, const char* key, const char* value,
                     size_t len, char* error, size_t cap) {
    if (memchr(value, '\n', len) || memchr(value, '\r', len)) {
      snprintf(error, cap, "%s: a line break is not allowed", form_name(key));
      return false;
    }
    size_t key_len = strlen(key);
    if (*used + key_len + len + 2 > gwlink::kMaxSettingsText) {
      snprintf(error, cap, "settings longer than %u bytes",
               static_cast<unsigned>(gwlink::kMaxSettingsText));
      return false;
    }
    memcpy(text + *used, key, key_len);
    text[*used + key_len] = '=';
    memcpy(text + *used + key_len + 1, value, len);
    *used += key_len + len + 2;
    text[*used - 1] = '\n';
    text[*used] = 0;
    return true;
  }

  // The form as settings text: one line per filled-in field, "pin=" per pin; a password
  // left empty on a node that has settings keeps the stored one.
  bool to_text(Scratch& s, size_t* used, char* error, size_t cap) {
    static const char* const kKeys[] = {"name",      "room",          "wifi_ssid",
                                        "wifi_password", "gateway",   "mqtt_user",
                                        "mqtt_password", "interval",  "sleep"};
    *used = 0;
    s.text[0] = 0;
    bool have_stored = failed_ssid_ != nullptr && settings_store::load(s.stored) > 0;
    for (const char* key : kKeys) {
      const String& sent = web_->arg(key);
      const char* value = sent.c_str();
      size_t len = sent.length();
      if (len == 0 && have_stored && strstr(key, "password") != nullptr) {
        value = stored_value(s.stored, key, &len);
      }
      if (value == nullptr || len == 0) continue;
      if (!append(s.text, used, key, value, len, error, cap)) return false;
    }
    const String& pins = web_->arg("pins");
    for (const char* p = pins.c_str(); *p;) {
      while (*p && isspace(static_cast<unsigned char>(*p))) ++p;
      const char* start = p;
      while (*p && !isspace(static_cast<unsigned char>(*p))) ++p;
      if (p > start && !append(s.text, used, "pin", start, p - start, error, cap)) return false;
    }
    return true;
  }

  void save() {
    used_at_ = millis();
    std::unique_ptr<Scratch> s(new (std::nothrow) Scratch);
    char error[96] = "";
    if (!s) {
      render(503, portal_pages::kForm, "the node is out of memory; try again");
      return;
    }
    size_t len = 0;
    if (!to_text(*s, &len, error, sizeof(error)) ||
        !settings_store::parse(s->text, len, &s->parsed, error, sizeof(error))) {
      render(400, portal_pages::kForm, error);
      return;
    }
    if (!settings_store::save(s->text, len)) {
      render(500, portal_pages::kForm, "could not write the settings to flash");
      return;
    }
    char accepted[256];
    if (!gwlink::describe_settings(s->parsed, accepted, sizeof(accepted))) {
      snprintf(accepted, sizeof(accepted), "name=%s room=%s", s->parsed.name, s->parsed.room);
    }
    saved_ = true;
    saved_at_ = millis();
    render(200, portal_pages::kSaved, "", accepted);
  }

  // Any other address a phone asks for (its captive-portal check among them) is sent to
  // the form: that redirect is what makes the phone show "Sign in to network".
  void redirect() {
    used_at_ = millis();
    if (web_->hostHeader() == address_) {
      web_->send(404, F("text/plain"), F("not found"));
      return;
    }
    char url[32];
    snprintf(url, sizeof(url), "http://%s/", address_);
    web_->sendHeader(F("Location"), url, true);
    web_->send(302, F("text/plain"), emptyString);
  }

  const char* version_;
  const char* failed_ssid_ = nullptr;
  char ssid_[16] = "";
  char address_[16] = "";
  IPAddress ip_;
  DNSServer* dns_ = nullptr;
  ESP8266WebServer* web_ = nullptr;
  bool saved_ = false;
  uint32_t saved_at_ = 0;
  uint32_t used_at_ = 0;
};

#endif
