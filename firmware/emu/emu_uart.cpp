// The UARTs of the emulated node, in place of the core mock's MockUART.cpp.
//
// The stock mock feeds UART0 from stdin one byte per loop() pass and drops 0x00 bytes, so a
// sketch that waits for an answer inside loop() (the serial link's OPEN/ACCEPT, PubSubClient's
// CONNACK) starves, and COBS frames, which end in 0x00, never arrive. Here UART0 reads from
// a file descriptor (environment NODE_UART_FD: a pseudo-terminal, the "USB cable") whenever
// the sketch polls it, and keeps every byte, as the ESP8266's receive FIFO does. Without
// NODE_UART_FD, UART0 transmits to stdout and receives nothing. UART1 (transmit only, the
// serial node's debug port) goes to stderr.
#include <Arduino.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "uart.h"

extern "C" {

bool blocking_uart = false;  // read by the mock's main(); our reads never block
bool serial_timestamp = false;

struct uart_ {
  int nr;
  int baud;
  bool rx;
  bool tx;
  bool overrun;
  uint8_t* ring;
  size_t size;
  size_t rpos;
  size_t wpos;
};

static uart_t* ports[2] = {nullptr, nullptr};

static int line_fd(int nr) {
  static int uart0 = -2;
  if (nr != UART0) return STDERR_FILENO;
  if (uart0 == -2) {
    const char* env = getenv("NODE_UART_FD");
    uart0 = env ? atoi(env) : -1;
    if (uart0 >= 0) fcntl(uart0, F_SETFL, fcntl(uart0, F_GETFL, 0) | O_NONBLOCK);
  }
  return uart0 >= 0 ? uart0 : STDOUT_FILENO;
}

static size_t used(const uart_t* u) { return (u->wpos + u->size - u->rpos) % u->size; }

static void push(uart_t* u, uint8_t byte) {
  size_t next = (u->wpos + 1) % u->size;
  if (next == u->rpos) {  // full: the FIFO loses the oldest byte, and says so
    u->overrun = true;
    u->rpos = (u->rpos + 1) % u->size;
  }
  u->ring[u->wpos] = byte;
  u->wpos = next;
}

// Moves whatever the line holds into the receive buffer.
static void pull(uart_t* u) {
  if (u == nullptr || !u->rx || u->nr != UART0 || getenv("NODE_UART_FD") == nullptr) return;
  uint8_t chunk[256];
  for (;;) {
    size_t room = u->size - 1 - used(u);
    if (room == 0) return;
    ssize_t got = ::read(line_fd(UART0), chunk, room < sizeof(chunk) ? room : sizeof(chunk));
    if (got <= 0) return;  // nothing now, or the cable is unplugged (EIO on a pty)
    for (ssize_t i = 0; i < got; ++i) push(u, chunk[i]);
  }
}

static void send(int nr, const char* buf, size_t len) {
  int fd = line_fd(nr);
  size_t done = 0;
  while (done < len) {
    ssize_t n = ::write(fd, buf + done, len - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      struct pollfd p = {fd, POLLOUT, 0};
      if (poll(&p, 1, 1000) <= 0) return;  // no one reads the line: the bytes are lost
    } else {
      return;  // unplugged: a real UART also transmits into the void
    }
  }
}

void uart_new_data(const int uart_nr, uint8_t data) {
  uart_t* u = ports[uart_nr];
  if (u != nullptr && u->rx) push(u, data);
}

uart_t* uart_init(int uart_nr, int baudrate, int config, int mode, int tx_pin, size_t rx_size,
                  bool invert) {
  (void)config;
  (void)tx_pin;
  (void)invert;
  if (uart_nr != UART0 && uart_nr != UART1) return nullptr;
  uart_t* u = static_cast<uart_t*>(calloc(1, sizeof(uart_t)));
  if (u == nullptr) return nullptr;
  u->nr = uart_nr;
  u->baud = baudrate;
  u->rx = uart_nr == UART0 && mode != UART_TX_ONLY;
  u->tx = mode != UART_RX_ONLY;
  if (u->rx) {
    u->size = rx_size + 1;
    u->ring = static_cast<uint8_t*>(malloc(u->size));
    if (u->ring == nullptr) {
      free(u);
      return nullptr;
    }
  }
  ports[uart_nr] = u;
  return u;
}

void uart_uninit(uart_t* uart) {
  if (uart == nullptr) return;
  if (ports[uart->nr] == uart) ports[uart->nr] = nullptr;
  free(uart->ring);
  free(uart);
}

bool uart_swap(uart_t*, int) { return true; }
bool uart_set_tx(uart_t*, int) { return true; }
bool uart_set_pins(uart_t*, int, int) { return true; }
bool uart_tx_enabled(uart_t* uart) { return uart != nullptr && uart->tx; }
bool uart_rx_enabled(uart_t* uart) { return uart != nullptr && uart->rx; }

void uart_set_baudrate(uart_t* uart, int baud_rate) {
  if (uart != nullptr) uart->baud = baud_rate;
}

int uart_get_baudrate(uart_t* uart) { return uart != nullptr ? uart->baud : 0; }

size_t uart_resize_rx_buffer(uart_t* uart, size_t new_size) {
  if (uart == nullptr || !uart->rx) return 0;
  uint8_t* ring = static_cast<uint8_t*>(malloc(new_size + 1));
  if (ring == nullptr) return uart->size - 1;
  size_t n = 0;
  while (used(uart) > 0 && n < new_size) {
    ring[n++] = uart->ring[uart->rpos];
    uart->rpos = (uart->rpos + 1) % uart->size;
  }
  free(uart->ring);
  uart->ring = ring;
  uart->size = new_size + 1;
  uart->rpos = 0;
  uart->wpos = n;
  return new_size;
}

size_t uart_get_rx_buffer_size(uart_t* uart) {
  return uart != nullptr && uart->rx ? uart->size - 1 : 0;
}

size_t uart_write_char(uart_t* uart, char c) { return uart_write(uart, &c, 1); }

size_t uart_write(uart_t* uart, const char* buf, size_t size) {
  if (uart == nullptr || !uart->tx) return 0;
  send(uart->nr, buf, size);
  return size;
}

size_t uart_rx_available(uart_t* uart) {
  if (uart == nullptr || !uart->rx) return 0;
  pull(uart);
  return used(uart);
}

int uart_peek_char(uart_t* uart) {
  if (uart_rx_available(uart) == 0) return -1;
  return uart->ring[uart->rpos];
}

int uart_read_char(uart_t* uart) {
  char c;
  return uart_read(uart, &c, 1) == 1 ? static_cast<uint8_t>(c) : -1;
}

size_t uart_read(uart_t* uart, char* buffer, size_t size) {
  if (uart_rx_available(uart) == 0) return 0;
  size_t n = 0;
  while (n < size && used(uart) > 0) {
    buffer[n++] = static_cast<char>(uart->ring[uart->rpos]);
    uart->rpos = (uart->rpos + 1) % uart->size;
  }
  return n;
}

size_t uart_tx_free(uart_t* uart) { return uart != nullptr && uart->tx ? UART_TX_FIFO_SIZE : 0; }

void uart_wait_tx_empty(uart_t*) {}

void uart_flush(uart_t* uart) {
  if (uart != nullptr && uart->rx) uart->rpos = uart->wpos = 0;
}

bool uart_has_overrun(uart_t* uart) {
  if (uart == nullptr || !uart->overrun) return false;
  uart->overrun = false;
  return true;
}

bool uart_has_rx_error(uart_t*) { return false; }

void uart_set_debug(int) {}

int uart_get_debug() { return UART1; }

void uart_start_detect_baudrate(int) {}

int uart_detect_baudrate(int) { return 115200; }

uint8_t uart_get_bit_length(const int uart_nr) {
  uint8_t width = ((uart_nr % 16) >> 2) + 5;
  uint8_t parity = (uart_nr >> 5) + 1;
  uint8_t stop = uart_nr % 4;
  return width + parity + stop + 1;
}

// The peek-buffer API (Stream::peekBuffer): the contiguous bytes from the read position.
size_t uart_peek_available(uart_t* uart) {
  if (uart_rx_available(uart) == 0) return 0;
  return uart->wpos >= uart->rpos ? uart->wpos - uart->rpos : uart->size - uart->rpos;
}

const char* uart_peek_buffer(uart_t* uart) {
  if (uart_peek_available(uart) == 0) return nullptr;
  return reinterpret_cast<const char*>(uart->ring + uart->rpos);
}

void uart_peek_consume(uart_t* uart, size_t consume) {
  if (uart == nullptr || !uart->rx) return;
  size_t n = consume < used(uart) ? consume : used(uart);
  uart->rpos = (uart->rpos + n) % uart->size;
}

}  // extern "C"

// The mock's main() opens LittleFS images at start; the emulated node has no file system
// (LittleFS's sources are a submodule missing from the core subset).
void mock_start_littlefs(const String&, size_t, size_t, size_t) {}
void mock_stop_littlefs() {}
