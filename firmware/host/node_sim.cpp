// A host build of the node's serial link: the portable gwlink library, FramedClient on the
// Arduino Client interface, and an MQTT session that behaves like PubSubClient. It runs the
// same reconnect loop as the sketch, on a file descriptor instead of the ESP8266's UART.
//
//   node_sim --fd N | --tty PATH  --id CLIENT_ID --room ROOM [--keepalive S]
//
// Commands on stdin, one per line (the tests' way of injecting faults):
//   publish SENSOR VALUE      publish home/ROOM/SENSOR, retained, in one write()
//   publish_split SENSOR VALUE  same, header and payload written separately (publish_P)
//   noise N                   write N pseudo-random bytes straight onto the line
//   halfframe                 write the first half of a DATA frame and nothing else
//   reset                     reboot: boot noise, all state lost, a new link and session
//   disconnect                clean MQTT DISCONNECT, then reconnect
//   counters                  print the link counters
//   quit
// Events on stdout, one per line: ready, connected, connect-failed, lost, published TOPIC,
// publish-failed TOPIC, counters ..., error TEXT.
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "arduino_client.h"
#include "fd_uart.h"
#include "gwlink.h"
#include "mqtt_session.h"

namespace {

typedef gwlink::FramedLink<FdUart> Link;
typedef gwlink::FramedClient<Client, IPAddress, FdUart> LinkClient;

struct Options {
  int fd = -1;
  const char* tty = 0;
  const char* id = "node_sim";
  const char* room = "kitchen";
  uint16_t keepalive = 15;
};

void say(const std::string& line) {
  fputs(line.c_str(), stdout);
  fputc('\n', stdout);
  fflush(stdout);
}

uint32_t noise_state = 0x12345678u;
uint8_t noise_byte() {
  noise_state ^= noise_state << 13;
  noise_state ^= noise_state >> 17;
  noise_state ^= noise_state << 5;
  return static_cast<uint8_t>(noise_state);
}

void write_noise(FdUart& uart, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    uint8_t b = noise_byte();
    uart.write(&b, 1);
  }
}

// The node's whole state: rebuilt from scratch on "reset", as a reboot would.
struct Node {
  Node(FdUart& uart, const Options& opt)
      : link(uart, host_millis, host_idle),
        client(link, 2000),
        session(client, host_millis, opt.keepalive, 5000),
        backoff(200, 2000, static_cast<uint32_t>(host_millis())) {}
  Link link;
  LinkClient client;
  MqttSession session;
  gwlink::Backoff backoff;
  bool was_connected = false;
};

class Simulator {
 public:
  Simulator(FdUart& uart, const Options& opt) : uart_(uart), opt_(opt) { reboot(); }

  void reboot() {
    node_.reset(new Node(uart_, opt_));
    gwlink::make_topic(status_topic_, sizeof(status_topic_), opt_.room, opt_.id, "status");
  }

  // One pass of the sketch's loop(): reconnect with backoff, service the session.
  void step() {
    Node& n = *node_;
    if (n.session.connected()) {
      n.session.loop();
    }
    if (n.session.connected()) return;
    if (n.was_connected) {
      n.was_connected = false;
      say("lost");
    }
    uint32_t now = static_cast<uint32_t>(host_millis());
    if (!n.backoff.ready(now)) return;
    if (n.session.connect(opt_.id, status_topic_, "offline")) {
      n.backoff.succeeded();
      n.was_connected = true;
      n.session.publish(status_topic_, "online", true);
      say("connected");
    } else {
      n.backoff.failed(now);
      say("connect-failed");
    }
  }

  void command(const std::string& line) {
    char verb[32] = {0}, arg1[64] = {0}, arg2[64] = {0};
    int fields = sscanf(line.c_str(), "%31s %63s %63s", verb, arg1, arg2);
    if (fields <= 0) return;
    std::string v = verb;
    Node& n = *node_;
    if ((v == "publish" || v == "publish_split") && fields == 3) {
      char topic[128];
      if (gwlink::make_topic(topic, sizeof(topic), opt_.room, arg1) == 0) {
        say("error bad topic");
        return;
      }
      bool ok = n.session.publish(topic, arg2, true, v == "publish_split");
      say(std::string(ok ? "published " : "publish-failed ") + topic);
    } else if (v == "noise" && fields == 2) {
      write_noise(uart_, static_cast<size_t>(atoi(arg1)));
    } else if (v == "halfframe") {
      static const uint8_t pingreq_frame[] = {0x00, 0x04, 0x01, 0xC0};
      uart_.write(pingreq_frame, sizeof(pingreq_frame));
    } else if (v == "reset") {
      // The ROM bootloader prints at 74880 baud; at 115200 that is noise.
      write_noise(uart_, 96);
      reboot();
      say("reset");
    } else if (v == "disconnect") {
      n.session.disconnect();
      n.was_connected = false;
      say("disconnected");
    } else if (v == "counters") {
      const gwlink::LinkCounters& c = n.link.counters();
      char text[256];
      snprintf(text, sizeof(text),
               "counters frames_in=%u frames_out=%u bad_frames=%u opens=%u open_timeouts=%u "
               "closes_received=%u aborts=%u",
               static_cast<unsigned>(c.frames_in), static_cast<unsigned>(c.frames_out),
               static_cast<unsigned>(c.bad_frames), static_cast<unsigned>(c.opens),
               static_cast<unsigned>(c.open_timeouts), static_cast<unsigned>(c.closes_received),
               static_cast<unsigned>(c.aborts));
      say(text);
    } else {
      say("error unknown command: " + line);
    }
  }

 private:
  FdUart& uart_;
  const Options& opt_;
  std::unique_ptr<Node> node_;
  char status_topic_[128];
};

bool parse(int argc, char** argv, Options* opt) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string key = argv[i];
    const char* value = argv[i + 1];
    if (key == "--fd") opt->fd = atoi(value);
    else if (key == "--tty") opt->tty = value;
    else if (key == "--id") opt->id = value;
    else if (key == "--room") opt->room = value;
    else if (key == "--keepalive") opt->keepalive = static_cast<uint16_t>(atoi(value));
    else return false;
  }
  return (argc % 2) == 1 && (opt->fd >= 0 || opt->tty != 0);
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  if (!parse(argc, argv, &opt)) {
    fprintf(stderr, "usage: node_sim --fd N | --tty PATH --id ID --room ROOM [--keepalive S]\n");
    return 2;
  }
  int fd = opt.fd;
  if (opt.tty != 0) fd = open(opt.tty, O_RDWR | O_NOCTTY);
  if (fd < 0) {
    perror("open");
    return 1;
  }
  FdUart uart(fd);
  Simulator sim(uart, opt);
  say("ready");
  std::string pending;
  for (;;) {
    sim.step();
    struct pollfd fds[2] = {{0, POLLIN, 0}, {fd, POLLIN, 0}};
    poll(fds, 2, 20);
    // A pty master reports HUP while no one holds the other end (the cable is unplugged):
    // wait instead of spinning.
    if (fds[1].revents & POLLHUP) usleep(20000);
    if (fds[0].revents & (POLLIN | POLLHUP)) {
      char chunk[256];
      ssize_t got = read(0, chunk, sizeof(chunk));
      if (got <= 0) return 0;  // the test ended: stdin closed
      pending.append(chunk, static_cast<size_t>(got));
      size_t nl;
      while ((nl = pending.find('\n')) != std::string::npos) {
        std::string line = pending.substr(0, nl);
        pending.erase(0, nl + 1);
        if (line == "quit") return 0;
        sim.command(line);
      }
    }
  }
}
