// Instantiates the link's templates the way the sketch does, so the cross-compile test
// builds (and sizes) the code that really runs on the ESP8266, not only the .cpp files.
#include "arduino_client.h"
#include "gwlink.h"

// Stands in for the core's HardwareSerial: the same calls, no Arduino headers.
class TargetUart {
 public:
  int available();
  int read();
  size_t write(const uint8_t* data, size_t len);
  void flush();
};

unsigned long target_millis();
void target_yield();

typedef gwlink::FramedLink<TargetUart, 512> Link;
typedef gwlink::FramedClient<Client, IPAddress, TargetUart, 512> LinkClient;

// Exported so -ffunction-sections and the linker of a size report cannot drop them.
Client* make_client(TargetUart& uart) {
  static Link link(uart, target_millis, target_yield);
  static LinkClient client(link, 1000);
  return &client;
}
