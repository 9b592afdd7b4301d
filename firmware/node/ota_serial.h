// Firmware updates over the USB cable: the image comes over the serial link in chunks
// (UPDATE_READ / UPDATE_DATA / UPDATE_ERROR frames, gwlink's UpdatePuller: one read
// outstanding, repeated after 1 s, given up after 5 repeats) and goes through the core's
// Updater, which checks the offered MD5 at the end. The offer's url is not used. loop()
// keeps running meanwhile, one step per call, so MQTT carries the reports.
#ifndef NODE_OTA_SERIAL_H
#define NODE_OTA_SERIAL_H

#include <StreamString.h>
#include <Updater.h>

#include "firmware_update.h"

template <class Link>
class SerialInstaller {
 public:
  SerialInstaller(FirmwareUpdate& update, Link& link) : update_(update), link_(link) {}

  void service(uint32_t now) {
    if (!update_.busy()) {
      if (update_.pending()) start(update_.take(), now);
      return;
    }
    uint8_t type = 0;
    const uint8_t* body = nullptr;
    size_t len = 0;
    while (puller_.state() == gwlink::UpdatePuller::kPulling &&
           link_.take_update_frame(&type, &body, &len)) {
      if (type == gwlink::kFrameUpdateError) {
        puller_.on_error(body, len);
        continue;
      }
      const uint8_t* data = nullptr;
      size_t n = 0;
      if (!puller_.on_data(body, len, &data, &n)) continue;
      if (Update.write(const_cast<uint8_t*>(data), n) != n) {
        abandon("flash write failed");
        return;
      }
      update_.downloaded(puller_.offset(), puller_.size());
    }
    uint32_t offset = 0;
    uint16_t length = 0;
    if (puller_.next_read(now, &offset, &length)) link_.send_update_read(puller_.md5(), offset, length);
    if (puller_.state() == gwlink::UpdatePuller::kFailed) {
      abandon(puller_.error());
    } else if (puller_.state() == gwlink::UpdatePuller::kDone) {
      finish();
    }
  }

 private:
  void start(const gwlink::FirmwareOffer& offer, uint32_t now) {
    uint8_t md5[16];
    gwlink::md5_from_hex(offer.md5, md5);  // parse_offer checked it
    if (!Update.begin(offer.size, U_FLASH)) {
      fail_with_updater_error();
      return;
    }
    Update.setMD5(offer.md5);
    puller_.start(md5, offer.size, now);
    update_.downloaded(0, offer.size);
  }

  void finish() {
    update_.verifying();
    puller_ = gwlink::UpdatePuller();
    if (Update.end()) {
      update_.rebooting();
      return;
    }
    fail_with_updater_error();
  }

  void abandon(const char* why) {
    char text[64];
    snprintf(text, sizeof(text), "%s", why);  // the puller's text goes with the reset
    puller_ = gwlink::UpdatePuller();
    Update.end();  // before the image is complete: drops it
    update_.failed(text);
  }

  void fail_with_updater_error() {
    StreamString why;
    if (Update.getError() == UPDATE_ERROR_MD5) {
      why.print("md5 mismatch");
    } else {
      Update.printError(why);
      why.trim();
    }
    Update.end();  // the Updater keeps a failed image until ended, and refuses begin() till then
    update_.failed(why.c_str());
  }

  FirmwareUpdate& update_;
  Link& link_;
  gwlink::UpdatePuller puller_;
};

#endif
