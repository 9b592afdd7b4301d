// ESP8266 sensor node for the sensor gateway: a DHT22, contacts, buttons and motion sensors
// published as home/<room>/<name>, and relays and LEDs switched from home/<room>/<name>/set,
// through PubSubClient over WiFi or over the USB cable. At connect the node announces what
// it has (home/<room>/<node>/announce) so the gateway can describe it to Home Assistant.
//
// One firmware for every node: the name, room, WiFi, gateway and what is wired to which pin
// are run-time settings stored on the node (settings_store.h), sent over the USB cable by
// `gateway node setup` or entered from a phone on the node's own access point
// (setup_portal.h). A node without settings says so on its debug port and waits.
// config.h (copy config.example.h) holds only build options. Build: PlatformIO
// (firmware/platformio.ini) or arduino-cli; see the README, section "ESP8266 nodes".
//
// loop() never waits for the network: WiFi reconnects by itself, MQTT reconnects are tried
// on a backoff timer (gwlink::Backoff), and the serial link's connect waits at most a second.
#define NODE_TRANSPORT_WIFI 1
#define NODE_TRANSPORT_SERIAL 2

#if __has_include("config.h")
#include "config.h"
#else
#error "Copy config.example.h to config.h next to node.ino and edit it (README: ESP8266 nodes)."
#endif

#include <Arduino.h>
#include <ESP8266WiFi.h>
#include <PubSubClient.h>
#include <gwlink.h>

#include "firmware_update.h"
#include "gateway_finder.h"
#include "outputs.h"
#include "sensors.h"
#include "settings_store.h"

// A build for the tests may name another version (a node "updated" to a newer build).
#ifndef NODE_FIRMWARE_VERSION
#define NODE_FIRMWARE_VERSION "0.4.0"
#endif

// The largest MQTT packet either way; PubSubClient's buffer and the serial link's frames
// are sized alike, and the gateway's bridge drops larger packets instead of sending them.
static const size_t kMaxPacket = 512;
static const char kOnline[] = "online";
static const char kOffline[] = "offline";

#if NODE_TRANSPORT == NODE_TRANSPORT_SERIAL
// UART0 (the USB cable) carries the link, so debug output goes to Serial1 (GPIO2, TX only).
#define DEBUG_PORT Serial1
typedef gwlink::FramedLink<HardwareSerial, kMaxPacket> SerialLink;
typedef gwlink::FramedClient<Client, IPAddress, HardwareSerial, kMaxPacket> SerialLinkClient;
static SerialLink serialLink(Serial, millis, yield);
static SerialLinkClient netClient(serialLink, 1000);
static void onLinkSettings(const uint8_t* body, size_t len);  // settings on the link
#elif NODE_TRANSPORT == NODE_TRANSPORT_WIFI
#define DEBUG_PORT Serial
static WiFiClient netClient;
static GatewayFinder* gatewayFinder = nullptr;
#else
#error "NODE_TRANSPORT must be NODE_TRANSPORT_WIFI or NODE_TRANSPORT_SERIAL"
#endif

#if NODE_DEBUG
#define LOG(...) DEBUG_PORT.printf(__VA_ARGS__)
#else
#define LOG(...) \
  do {           \
  } while (0)
#endif

#if NODE_TRANSPORT == NODE_TRANSPORT_WIFI
#include "portal_trigger.h"
#include "setup_portal.h"
// Set-up from a phone: at once without settings, after PORTAL_AFTER_S without WiFi with them.
static SetupPortal portal(NODE_FIRMWARE_VERSION);
static PortalTrigger portalTrigger(PORTAL_AFTER_S * 1000UL);
#endif

static PubSubClient mqtt(netClient);
static FirmwareUpdate firmwareUpdate(mqtt, NODE_FIRMWARE_VERSION);
#if NODE_TRANSPORT == NODE_TRANSPORT_SERIAL
#include "ota_serial.h"
static SerialInstaller<SerialLink> installer(firmwareUpdate, serialLink);
#else
#include "ota_http.h"
static HttpInstaller installer(firmwareUpdate);
#endif
static gwlink::Backoff mqttBackoff(1000, 60000);
static SetupPort setupPort(Serial);
static gwlink::NodeSettings settings;
static bool haveSettings = false;
static ClimateSensor* climate = nullptr;  // made in setup() once the pin is known

static const size_t kMaxIo = gwlink::kMaxPins;
static InputConfig kInputConfigs[kMaxIo];
static OutputConfig kOutputConfigs[kMaxIo];
static size_t kInputs = 0;
static size_t kOutputs = 0;
// How long a BOOT_RESTORE output waits for the gateway to hand back its last state.
static const uint32_t kRestoreWaitMs = 3000;

// "home/" + room + "/" + name + "/set" with names of at most 32 characters.
typedef char Topic[80];
static Topic statusTopic;
static Topic announceTopic;
static Topic temperatureTopic;
static Topic humidityTopic;
static Topic inputTopics[kMaxIo];
static Topic outputTopics[kMaxIo];
static Topic commandTopics[kMaxIo];
static BinaryInput inputs[kMaxIo];
static SwitchOutput outputs[kMaxIo];
static bool climatePublished = false;  // since boot (= since wake-up for a battery node)
static uint32_t mqttFailuresInARow = 0;
static uint32_t connectedAt = 0;

static bool buildTopics() {
  bool ok = gwlink::make_topic(statusTopic, sizeof(Topic), settings.room, settings.name, "status") &&
            gwlink::make_topic(announceTopic, sizeof(Topic), settings.room, settings.name, "announce") &&
            gwlink::make_topic(temperatureTopic, sizeof(Topic), settings.room, "temperature") &&
            gwlink::make_topic(humidityTopic, sizeof(Topic), settings.room, "humidity") &&
            firmwareUpdate.begin(settings.room, settings.name);
  for (size_t i = 0; i < kInputs; ++i) {
    ok = ok && gwlink::make_topic(inputTopics[i], sizeof(Topic), settings.room, kInputConfigs[i].name);
  }
  for (size_t i = 0; i < kOutputs; ++i) {
    const char* name = kOutputConfigs[i].name;
    ok = ok && gwlink::make_topic(outputTopics[i], sizeof(Topic), settings.room, name) &&
         gwlink::make_topic(commandTopics[i], sizeof(Topic), settings.room, name, "set");
  }
  return ok;
}

static bool publishValue(const char* topic, const char* payload) {
  bool ok = mqtt.publish(topic, payload, true);  // retained: a new subscriber sees it at once
  if (!ok) LOG("publish %s failed\n", topic);
  return ok;
}

static void publishClimate(bool force) {
  float celsius = 0, humidity = 0;
  if (!climate->poll(millis(), force, &celsius, &humidity)) return;
  char text[16];
  bool ok = true;
  if (gwlink::format_fixed(celsius, DHT_DECIMALS, text, sizeof(text))) {
    ok = publishValue(temperatureTopic, text) && ok;
  }
  if (gwlink::format_fixed(humidity, DHT_DECIMALS, text, sizeof(text))) {
    ok = publishValue(humidityTopic, text) && ok;
  }
  climatePublished = climatePublished || ok;
}

static void publishInput(size_t i) {
  publishValue(inputTopics[i], gwlink::format_binary(inputs[i].on()));
}

static void publishOutput(size_t i) {
  publishValue(outputTopics[i], gwlink::format_binary(outputs[i].on()));
}

// Appends `text` to the announcement; false when it no longer fits.
static bool append(char* out, size_t cap, const char* text) {
  size_t used = strlen(out);
  size_t len = strlen(text);
  if (used + len + 1 > cap) return false;
  memcpy(out + used, text, len + 1);
  return true;
}

// What this node has, for the gateway's Home Assistant discovery, e.g.
// {"fw":"0.2.0","tr":"wifi","dht":1,"in":{"door":"c"},"out":{"relay":"r"}}
// Kinds: c contact, b button, m motion; r relay, l LED. About 100 bytes for a typical node.
static bool formatAnnouncement(char* out, size_t cap) {
  static const char kInputLetters[] = {'c', 'b', 'm'};
  static const char kOutputLetters[] = {'r', 'l'};
  out[0] = 0;
  bool ok = append(out, cap, "{\"fw\":\"" NODE_FIRMWARE_VERSION "\",\"tr\":\"") &&
            append(out, cap, NODE_TRANSPORT == NODE_TRANSPORT_WIFI ? "wifi" : "serial") &&
            append(out, cap, climate->enabled() ? "\",\"dht\":1" : "\",\"dht\":0") &&
            append(out, cap, ",\"in\":{");
  char entry[48];
  for (size_t i = 0; i < kInputs; ++i) {
    snprintf(entry, sizeof(entry), "%s\"%s\":\"%c\"", i ? "," : "", kInputConfigs[i].name,
             kInputLetters[kInputConfigs[i].kind]);
    ok = ok && append(out, cap, entry);
  }
  ok = ok && append(out, cap, "},\"out\":{");
  for (size_t i = 0; i < kOutputs; ++i) {
    snprintf(entry, sizeof(entry), "%s\"%s\":\"%c\"", i ? "," : "", kOutputConfigs[i].name,
             kOutputLetters[kOutputConfigs[i].kind]);
    ok = ok && append(out, cap, entry);
  }
  return ok && append(out, cap, "}}");
}

// Commands to an output, and (BOOT_RESTORE, once after boot) the state the node published
// before, which the broker hands back retained.
static void onMessage(char* topic, uint8_t* payload, unsigned int len) {
  if (firmwareUpdate.onMessage(topic, payload, len)) return;
  for (size_t i = 0; i < kOutputs; ++i) {
    SwitchOutput& out = outputs[i];
    bool on = false;
    if (strcmp(topic, commandTopics[i]) == 0) {
      if (gwlink::parse_switch(payload, len, out.on(), &on)) {
        LOG("%s: %s\n", kOutputConfigs[i].name, gwlink::format_binary(on));
        out.set(on);
      } else {
        LOG("%s: ignored a command that is not ON, OFF, 1, 0, true, false or TOGGLE\n",
            kOutputConfigs[i].name);
      }
      publishOutput(i);  // the confirmed state; a UI that switched optimistically follows
      return;
    }
    if (out.restoring() && strcmp(topic, outputTopics[i]) == 0) {
      if (gwlink::parse_switch(payload, len, false, &on)) out.set(on);
      out.restored();
      mqtt.unsubscribe(outputTopics[i]);
      publishOutput(i);
      return;
    }
  }
}

// BOOT_RESTORE outputs whose state did not come back in time stay as they are (off).
static void finishRestores(uint32_t now) {
  if (now - connectedAt < kRestoreWaitMs) return;
  for (size_t i = 0; i < kOutputs; ++i) {
    if (!outputs[i].restoring()) continue;
    LOG("%s: no state to restore\n", kOutputConfigs[i].name);
    outputs[i].restored();
    mqtt.unsubscribe(outputTopics[i]);
    publishOutput(i);
  }
}

#if NODE_TRANSPORT == NODE_TRANSPORT_WIFI
// The SDK reconnects WiFi by itself; if it has not managed within a backoff delay (10 s,
// growing to 5 min) the association is started over, which clears the cases where the
// SDK's own retries get stuck (an access point that rebooted with new settings).
static gwlink::Backoff wifiBackoff(10000, 300000);
static bool wifiWasUp = false;

static bool wifiReady(uint32_t now) {
  if (WiFi.status() == WL_CONNECTED) {
    if (!wifiWasUp) LOG("wifi connected\n");
    wifiWasUp = true;
    wifiBackoff.succeeded();
    return true;
  }
  if (wifiWasUp) {
    LOG("wifi lost\n");
    wifiWasUp = false;
    wifiBackoff.failed(now);  // give the SDK's own reconnect the first delay
  } else if (wifiBackoff.failures() == 0) {
    wifiBackoff.failed(now);  // just booted: WiFi.begin() is under way
  } else if (wifiBackoff.ready(now)) {
    LOG("wifi: starting the association again\n");
    WiFi.begin(settings.wifi_ssid, settings.wifi_password);
    wifiBackoff.failed(now);
  }
  return false;
}
#endif

// The transport is up (WiFi associated; a serial cable is always "up").
static bool transportReady(uint32_t now) {
#if NODE_TRANSPORT == NODE_TRANSPORT_WIFI
  gatewayFinder->update();
  return wifiReady(now);
#else
  (void)now;
  return true;
#endif
}

// One MQTT connection attempt; the caller's backoff decides when.
static bool connectMqtt() {
#if NODE_TRANSPORT == NODE_TRANSPORT_WIFI
  IPAddress ip;
  uint16_t port = 0;
  if (!gatewayFinder->resolve(&ip, &port)) {
    LOG("gateway %s not found\n", settings.gateway_host);
    return false;
  }
  mqtt.setServer(ip, port);
#else
  mqtt.setServer("gateway", 0);  // a serial cable has one end: host and port are unused
#endif
  const char* user = settings.mqtt_user[0] ? settings.mqtt_user : nullptr;
  const char* password = settings.mqtt_password[0] ? settings.mqtt_password : nullptr;
  if (!mqtt.connect(settings.name, user, password, statusTopic, 1, true, kOffline)) {
    LOG("mqtt connect failed, state %d\n", mqtt.state());
    return false;
  }
  LOG("mqtt connected\n");
  connectedAt = millis();
  publishValue(statusTopic, kOnline);
  char announcement[256];
  if (formatAnnouncement(announcement, sizeof(announcement))) {
    publishValue(announceTopic, announcement);
  } else {
    LOG("announcement too long: shorten the input and output names\n");
  }
  firmwareUpdate.onConnect(settings.sleep_s > 0);
  for (size_t i = 0; i < kOutputs; ++i) {
    mqtt.subscribe(commandTopics[i], 1);
    if (outputs[i].restoring()) mqtt.subscribe(outputTopics[i], 1);
  }
  // Everything is re-published on (re)connect, so the gateway never shows stale states.
  for (size_t i = 0; i < kOutputs; ++i) {
    if (!outputs[i].restoring()) publishOutput(i);
  }
  for (size_t i = 0; i < kInputs; ++i) publishInput(i);
  publishClimate(true);
  return true;
}

static void serviceMqtt(uint32_t now) {
  if (mqtt.connected()) {
    mqtt.loop();
    if (mqtt.connected()) finishRestores(now);
    return;
  }
  if (!mqttBackoff.ready(now)) return;
  if (connectMqtt()) {
    mqttBackoff.succeeded();
    mqttFailuresInARow = 0;
    return;
  }
  mqttBackoff.failed(now);
#if NODE_TRANSPORT == NODE_TRANSPORT_WIFI
  // The gateway may have a new address (DHCP): look it up again after a few failures.
  if (++mqttFailuresInARow % 3 == 0) gatewayFinder->forget();
#endif
}

static void sleepIfDone(uint32_t now) {
  if (settings.sleep_s == 0) return;
  // Done: connected, status and contact published on connect, and a reading out (if the
  // node has a DHT). Or out of time: the gateway may be down; try again next wake-up.
  // An update offered to it (the retained offer comes right after connecting) keeps the
  // node awake until it is installed (a restart) or has failed.
  if (firmwareUpdate.busy()) return;
  bool done = mqtt.connected() && (!climate->enabled() || climatePublished) &&
              !firmwareUpdate.waitingForOffer();
  bool timedOut = now >= AWAKE_TIMEOUT_S * 1000UL && !firmwareUpdate.pending();
  if (!done && !timedOut) return;
  LOG("deep sleep for %lu s\n", static_cast<unsigned long>(settings.sleep_s));
  if (mqtt.connected()) {
    netClient.flush();  // the last PUBLISH out before the DISCONNECT
    mqtt.disconnect();  // clean: no will, the node stays "online" while asleep
    delay(10);
  }
  ESP.deepSleep(static_cast<uint64_t>(settings.sleep_s) * 1000000ULL);
}

// The stored settings, or NODE_PRESET (a build option) on a node that has none yet.
static bool loadSettings() {
  static char text[gwlink::kMaxSettingsText + 1];
  size_t len = settings_store::load(text);
  char error[96] = "";
#ifdef NODE_PRESET
  if (len == 0) {
    snprintf(text, sizeof(text), "%s", static_cast<const char*>(NODE_PRESET));
    len = strlen(text);
  }
#endif
  if (len == 0) return false;
  if (settings_store::parse(text, len, &settings, error, sizeof(error))) return true;
  DEBUG_PORT.printf("stored settings refused (%s)\n", error);
  return false;
}

// The settings as the pieces of the sketch want them.
static void applySettings() {
  static const InputKind kInputKinds[] = {CONTACT, BUTTON, MOTION};
  kInputs = settings.n_inputs;
  for (size_t i = 0; i < kInputs; ++i) {
    const gwlink::PinSetting& p = settings.inputs[i];
    kInputConfigs[i] = {p.name, p.pin, kInputKinds[p.role - gwlink::kPinContact], p.invert};
  }
  kOutputs = settings.n_outputs;
  for (size_t i = 0; i < kOutputs; ++i) {
    const gwlink::PinSetting& p = settings.outputs[i];
    kOutputConfigs[i] = {p.name, p.pin, p.role == gwlink::kPinLed ? LED : RELAY,
                         p.active_low ? ACTIVE_LOW : ACTIVE_HIGH, static_cast<BootState>(p.boot)};
  }
}

void setup() {
  Serial.setRxBufferSize(1024);  // a settings frame, or two link frames while a DHT read runs
  haveSettings = loadSettings();
  if (haveSettings) applySettings();
  // A battery node publishes once per wake-up, so it retries a failed DHT read as soon as
  // the sensor allows (2 s) instead of waiting a whole reading interval.
  climate = new ClimateSensor(haveSettings ? settings.dht_pin : -1,
                              settings.dht_model == 11 ? DHT11 : DHT22,
                              (settings.sleep_s > 0 ? 2 : settings.interval_s) * 1000UL);
  // Outputs first: a relay must reach its boot state before anything that can take time.
  for (size_t i = 0; i < kOutputs; ++i) outputs[i].begin(kOutputConfigs[i]);
#if NODE_TRANSPORT == NODE_TRANSPORT_SERIAL
  serialLink.on_settings(onLinkSettings);
  Serial.begin(SERIAL_BAUD);
  DEBUG_PORT.begin(115200);
  WiFi.mode(WIFI_OFF);  // no radio needed: saves ~70 mA
#else
  DEBUG_PORT.begin(115200);
#endif
  if (!haveSettings) {
    DEBUG_PORT.printf("\nnode firmware %s: no settings; waiting to be set up over the USB cable "
                      "(gateway node setup PORT --name ... --room ...) or from a phone\n",
                      NODE_FIRMWARE_VERSION);
    return;
  }
#if NODE_TRANSPORT == NODE_TRANSPORT_WIFI
  WiFi.persistent(false);  // do not rewrite flash with the same credentials on every boot
  WiFi.mode(WIFI_STA);
  WiFi.hostname(settings.name);
  WiFi.setAutoReconnect(true);
  WiFi.begin(settings.wifi_ssid, settings.wifi_password);
  gatewayFinder = new GatewayFinder(settings.gateway_host, settings.gateway_port, settings.name);
#endif
  LOG("\nnode %s in room %s, firmware %s\n", settings.name, settings.room, NODE_FIRMWARE_VERSION);
  if (!buildTopics()) {  // parse_settings checked every name: only a too-long topic is left
    LOG("settings: a topic is longer than %u bytes\n", static_cast<unsigned>(sizeof(Topic)));
    haveSettings = false;
    return;
  }
  mqttBackoff = gwlink::Backoff(1000, 60000, ESP.getChipId());
#if NODE_TRANSPORT == NODE_TRANSPORT_WIFI
  wifiBackoff = gwlink::Backoff(10000, 300000, ESP.getChipId() ^ 0x5A5A5A5Au);
#endif
  mqtt.setBufferSize(kMaxPacket);
  mqtt.setCallback(onMessage);
  mqtt.setKeepAlive(MQTT_KEEPALIVE_S);
  mqtt.setSocketTimeout(5);
  climate->begin();
  for (size_t i = 0; i < kInputs; ++i) inputs[i].begin(kInputConfigs[i]);
}

// Settings frames on UART0, which a serial node's link owns once the node is set up. New
// settings take effect through a restart, as after power-up.
#if NODE_TRANSPORT == NODE_TRANSPORT_SERIAL
static bool linkSettingsStored = false;

// A set-up node's link hands settings frames over (the gateway stopped, `gateway node setup`
// on the same cable): answered there and then, applied by the restart in serviceSetup().
static void onLinkSettings(const uint8_t* body, size_t len) {
  if (settings_store::answer_settings(Serial, body, len, NODE_FIRMWARE_VERSION)) {
    linkSettingsStored = true;
  }
}
#endif

static void serviceSetup(uint32_t now) {
  static uint32_t remindedAt = 0;
  bool stored;
#if NODE_TRANSPORT == NODE_TRANSPORT_SERIAL
  if (haveSettings) {
    serialLink.poll();  // also between connection attempts, which back off up to a minute
    stored = linkSettingsStored;
  } else {
    stored = setupPort.poll(NODE_FIRMWARE_VERSION);
  }
#else
  stored = setupPort.poll(NODE_FIRMWARE_VERSION);
#endif
  if (stored) {
    DEBUG_PORT.printf("new settings stored: restarting\n");
    if (mqtt.connected()) mqtt.disconnect();
    delay(50);
    ESP.restart();
  }
  if (!haveSettings && now - remindedAt >= 10000) {
    remindedAt = now;
    DEBUG_PORT.printf("no settings: waiting to be set up\n");
  }
}

#if NODE_TRANSPORT == NODE_TRANSPORT_WIFI
// The phone's set-up page (setup_portal.h); true while it is open and normal work waits.
// A battery node never opens it on a WiFi failure: it would stay awake for nobody.
static bool servicePortal(uint32_t now) {
  if (!portal.active()) {
    if (haveSettings && (settings.sleep_s > 0 ||
                         !portalTrigger.update(WiFi.status() == WL_CONNECTED, now))) {
      return false;
    }
    if (mqtt.connected()) mqtt.disconnect();
    portal.begin(haveSettings ? settings.wifi_ssid : nullptr, now);
    DEBUG_PORT.printf("set-up page: join WiFi %s and open http://%s/\n", portal.ssid(),
                      portal.address());
  }
  SetupPortal::Result result = portal.loop(now);
  if (result == SetupPortal::kOpen) return true;
  DEBUG_PORT.printf(result == SetupPortal::kSaved ? "new settings stored: restarting\n"
                                                  : "set-up page unused: restarting\n");
  delay(50);
  ESP.restart();
  return true;
}
#endif

void loop() {
  uint32_t now = millis();
  serviceSetup(now);
#if NODE_TRANSPORT == NODE_TRANSPORT_WIFI
  if (servicePortal(now)) return;
#endif
  if (!haveSettings) {
    delay(10);  // nothing else to do until the gateway sends settings
    return;
  }
  if (transportReady(now)) serviceMqtt(now);
  for (size_t i = 0; i < kInputs; ++i) {
    if (inputs[i].poll(now) && mqtt.connected()) publishInput(i);
  }
  if (mqtt.connected()) publishClimate(false);
#if NODE_TRANSPORT == NODE_TRANSPORT_SERIAL
  installer.service(now);
#else
  if (mqtt.connected()) installer.service();
#endif
  sleepIfDone(now);
}
