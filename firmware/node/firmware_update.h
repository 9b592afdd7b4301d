// Firmware updates from the gateway, the part both transports share (docs/contracts.md,
// "Node firmware updates"): the retained offer on home/<room>/<node>/firmware/offer and the
// node's reports on .../firmware/progress. ota_http.h (WiFi) and ota_serial.h (the cable)
// fetch and install the image; this keeps the offer, decides whether to act on it and
// publishes what happens.
#ifndef NODE_FIRMWARE_UPDATE_H
#define NODE_FIRMWARE_UPDATE_H

#include <Arduino.h>
#include <PubSubClient.h>
#include <gwlink.h>
#include <string.h>

class FirmwareUpdate {
 public:
  FirmwareUpdate(PubSubClient& mqtt, const char* version) : mqtt_(mqtt), version_(version) {}

  // The topics for this node; false if they do not fit (names are at most 32 characters).
  bool begin(const char* room, const char* name) {
    return topic(offerTopic_, room, name, "/offer") && topic(progressTopic_, room, name, "/progress");
  }

  // At every connect: say which version runs, and hear the gateway's (retained) offer.
  // A node about to sleep must know there is none: its own report coming back through a
  // second subscription proves the broker has sent any retained offer (it answers one
  // client's packets in order), however slow it is.
  void onConnect(bool awaitOffer) {
    offerChecked_ = !awaitOffer;
    if (!busy_) report("idle", version_, -1, nullptr);
    mqtt_.subscribe(offerTopic_, 1);
    if (awaitOffer) mqtt_.subscribe(progressTopic_, 1);
  }

  // True if the message was the offer (taken or refused here).
  bool onMessage(const char* topic, const uint8_t* payload, unsigned int len) {
    if (!offerChecked_ && strcmp(topic, progressTopic_) == 0) {
      offerChecked_ = true;
      mqtt_.unsubscribe(progressTopic_);
      return true;
    }
    if (strcmp(topic, offerTopic_) != 0) return false;
    char error[48];
    gwlink::FirmwareOffer offer;
    switch (gwlink::parse_offer(payload, len, &offer, error, sizeof(error))) {
      case gwlink::kOfferWithdrawn:
        pending_ = false;
        break;
      case gwlink::kOfferBad:
        // Nothing to install: say why, so the gateway does not wait for progress (unless
        // an update runs: its reports stay a coherent sequence).
        pending_ = false;
        if (!busy_) report("failed", offer.version[0] ? offer.version : version_, -1, error);
        break;
      case gwlink::kOfferOk:
        // One that comes during an update waits for its end (a failure: it is next).
        pending_ = gate_.wanted(offer, version_);
        if (pending_) offer_ = offer;
        break;
    }
    return true;
  }

  // An offer waits to be installed (the installer takes it with take()); asked again
  // after a failure, as that may have been this very (md5, try).
  bool pending() const { return pending_ && !busy_ && gate_.wanted(offer_, version_); }
  const gwlink::FirmwareOffer& take() {
    pending_ = false;
    busy_ = true;
    verifying_ = false;
    steps_.reset();
    installing_ = offer_;
    return installing_;
  }
  bool busy() const { return busy_; }
  const char* version() const { return version_; }

  // A deep-sleep node stays awake until it knows whether an offer waits for it.
  bool waitingForOffer() const { return !offerChecked_ || pending(); }

  void downloaded(uint32_t done, uint32_t total) {
    int pct = 0;
    if (steps_.due(done, total, &pct)) report("download", installing_.version, pct, nullptr);
  }

  void verifying() {
    if (verifying_) return;  // the HTTP updater announces the end twice
    verifying_ = true;
    report("verify", installing_.version, -1, nullptr);
  }

  // The new image is staged: tell the gateway, leave cleanly, and restart into it.
  void rebooting() {
    report("reboot", installing_.version, -1, nullptr);
    mqtt_.disconnect();  // after the report: the client flushes what it wrote first
    delay(50);
    ESP.restart();
  }

  // The update failed: the old firmware keeps running, and this (md5, try) is not tried again.
  void failed(const char* why) {
    busy_ = false;
    gate_.failed(installing_);
    report("failed", installing_.version, -1, why);
  }

 private:
  typedef char Topic[96];  // home/<32>/<32>/firmware/progress

  static bool topic(Topic out, const char* room, const char* name, const char* leaf) {
    size_t n = gwlink::make_topic(out, sizeof(Topic), room, name, "firmware");
    if (n == 0 || n + strlen(leaf) + 1 > sizeof(Topic)) return false;
    memcpy(out + n, leaf, strlen(leaf) + 1);
    return true;
  }

  void report(const char* state, const char* version, int pct, const char* err) {
    char text[160];
    if (gwlink::format_progress(text, sizeof(text), state, version, pct, err) == 0) return;
    if (mqtt_.connected()) mqtt_.publish(progressTopic_, text, true);
  }

  PubSubClient& mqtt_;
  const char* version_;
  Topic offerTopic_;
  Topic progressTopic_;
  gwlink::FirmwareOffer offer_;       // the latest offer worth installing
  gwlink::FirmwareOffer installing_;  // the one being installed
  gwlink::OfferGate gate_;
  gwlink::ProgressSteps steps_;
  bool pending_ = false;
  bool busy_ = false;
  bool verifying_ = false;
  bool offerChecked_ = true;
};

#endif
