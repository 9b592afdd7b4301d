// Firmware updates over WiFi: the offered image is fetched from the gateway's URL with the
// core's ESP8266httpUpdate, which writes it through the Updater and checks the offered MD5
// (sent to it as the expected sum, so the server's x-MD5 header cannot replace it); the
// size the server sends must be the offered one. Progress goes out on the MQTT connection,
// which stays open meanwhile. See firmware_update.h for the offer and the reports.
#ifndef NODE_OTA_HTTP_H
#define NODE_OTA_HTTP_H

#include <ESP8266httpUpdate.h>
#include <Updater.h>

#include "firmware_update.h"

class HttpInstaller {
 public:
  explicit HttpInstaller(FirmwareUpdate& update) : update_(update) {}

  // Installs a pending offer; blocks while the image downloads (the reports keep MQTT
  // alive). On success the node restarts and this never returns.
  void service() {
    if (!update_.pending()) return;
    const gwlink::FirmwareOffer& offer = update_.take();
    if (offer.url[0] == 0) {
      update_.failed("offer without url");
      return;
    }
    static FirmwareUpdate* current = nullptr;
    static uint32_t offeredSize = 0;
    static bool sizeMismatch = false;
    current = &update_;
    offeredSize = offer.size;
    sizeMismatch = false;
    ESP8266HTTPUpdate http(kTimeoutMs);
    http.rebootOnUpdate(false);            // report "reboot" first
    http.closeConnectionsOnUpdate(false);  // the MQTT connection carries the reports
    http.setMD5sum(String(offer.md5));
    http.onProgress([](int done, int total) {
      if (done == 0 && static_cast<uint32_t>(total) != offeredSize) {
        // Not the image offered: ending the Updater early abandons it before any write.
        sizeMismatch = true;
        Update.end();
        return;
      }
      current->downloaded(static_cast<uint32_t>(done), static_cast<uint32_t>(total));
      if (done == total) current->verifying();  // the Updater checks the MD5 next
    });
    WiFiClient client;
    HTTPUpdateResult result = http.update(client, String(offer.url), update_.version());
    if (result == HTTP_UPDATE_OK) {
      update_.rebooting();
      return;
    }
    char why[96];
    if (sizeMismatch) {
      snprintf(why, sizeof(why), "size differs from the offer (%lu)",
               static_cast<unsigned long>(offeredSize));
    } else if (result == HTTP_UPDATE_NO_UPDATES) {
      snprintf(why, sizeof(why), "the server says this image runs already (304)");
    } else if (http.getLastError() == UPDATE_ERROR_MD5) {
      snprintf(why, sizeof(why), "md5 mismatch");
    } else {
      snprintf(why, sizeof(why), "%s", http.getLastErrorString().c_str());
    }
    Update.end();  // the Updater keeps a failed image until ended, and refuses begin() till then
    update_.failed(why);
  }

 private:
  static const int kTimeoutMs = 10000;
  FirmwareUpdate& update_;
};

#endif
