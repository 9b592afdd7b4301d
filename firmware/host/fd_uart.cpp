#include "fd_uart.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

FdUart::FdUart(int fd) : fd_(fd) {
  int flags = fcntl(fd_, F_GETFL, 0);
  if (flags >= 0) fcntl(fd_, F_SETFL, flags | O_NONBLOCK);
}

bool FdUart::fill() {
  if (pos_ < len_) return true;
  ssize_t n = ::read(fd_, buf_, sizeof(buf_));
  if (n > 0) {
    pos_ = 0;
    len_ = static_cast<size_t>(n);
    return true;
  }
  if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) failed_ = true;
  return false;
}

int FdUart::available() { return fill() ? static_cast<int>(len_ - pos_) : 0; }

int FdUart::read() { return fill() ? buf_[pos_++] : -1; }

size_t FdUart::write(const uint8_t* data, size_t len) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = ::write(fd_, data + done, len - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      struct pollfd p = {fd_, POLLOUT, 0};
      poll(&p, 1, 100);
    } else {
      failed_ = true;
      break;
    }
  }
  return done;
}

bool FdUart::wait_readable(int timeout_ms) {
  if (pos_ < len_) return true;
  struct pollfd p = {fd_, POLLIN, 0};
  return poll(&p, 1, timeout_ms) > 0;
}

unsigned long host_millis() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<unsigned long>(ts.tv_sec) * 1000UL +
         static_cast<unsigned long>(ts.tv_nsec / 1000000L);
}

void host_idle() {
  struct timespec ts = {0, 1000000L};  // 1 ms: the host's stand-in for yield()
  nanosleep(&ts, 0);
}
