// A UART for host builds: a file descriptor (a pseudo-terminal, a serial device or a pipe)
// with the calls FramedLink needs. Reads never block; writes wait until all bytes are out.
#ifndef HOST_FD_UART_H
#define HOST_FD_UART_H

#include <stddef.h>
#include <stdint.h>

class FdUart {
 public:
  explicit FdUart(int fd);

  int available();
  int read();
  size_t write(const uint8_t* data, size_t len);
  size_t write(uint8_t byte) { return write(&byte, 1); }
  void flush() {}
  // Blocks up to timeout_ms for input; true if some arrived.
  bool wait_readable(int timeout_ms);
  int fd() const { return fd_; }
  bool failed() const { return failed_; }

 private:
  bool fill();

  int fd_;
  bool failed_ = false;
  uint8_t buf_[512];
  size_t pos_ = 0;
  size_t len_ = 0;
};

// Host stand-ins for the core's millis() and yield().
unsigned long host_millis();
void host_idle();

#endif
