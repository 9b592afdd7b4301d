// An Arduino `Client` for PubSubClient that runs over a FramedLink.
//
// The library includes no Arduino header: the sketch names the core's Client and IPAddress
// as template arguments, and the host tests name a shim with the same virtual functions,
// so the same adapter code runs in both places:
//
//   gwlink::FramedLink<HardwareSerial> link(Serial, millis, yield);
//   gwlink::FramedClient<Client, IPAddress, HardwareSerial> client(link);
//   PubSubClient mqtt(client);
#ifndef GWLINK_FRAMED_CLIENT_H
#define GWLINK_FRAMED_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "framed_link.h"

namespace gwlink {

template <class ClientBase, class IPAddressT, class Uart, size_t MaxPacket = 512>
class FramedClient : public ClientBase {
 public:
  typedef FramedLink<Uart, MaxPacket> Link;

  // connect_timeout_ms bounds how long connect() waits for the gateway, so an absent
  // gateway costs the sketch's loop() at most this long per attempt.
  explicit FramedClient(Link& link, uint32_t connect_timeout_ms = 1000)
      : link_(link), connect_timeout_ms_(connect_timeout_ms) {}

  // Host and port mean nothing on a serial cable; the gateway end is fixed.
  int connect(IPAddressT, uint16_t) override { return link_.connect(connect_timeout_ms_); }
  int connect(const char*, uint16_t) override { return link_.connect(connect_timeout_ms_); }

  size_t write(uint8_t byte) override { return link_.write(byte); }
  size_t write(const uint8_t* buf, size_t size) override { return link_.write(buf, size); }
  int available() override { return link_.available(); }
  int read() override { return link_.read(); }
  int read(uint8_t* buf, size_t size) override { return link_.read(buf, size); }
  int peek() override { return link_.peek(); }
  void flush() override { link_.flush(); }
  void stop() override { link_.stop(); }
  uint8_t connected() override { return link_.connected(); }
  operator bool() override { return link_.connected() != 0; }

  using ClientBase::write;  // keep Print's write(const char*) and friends visible

  Link& link() { return link_; }

 private:
  Link& link_;
  uint32_t connect_timeout_ms_;
};

}  // namespace gwlink

#endif
