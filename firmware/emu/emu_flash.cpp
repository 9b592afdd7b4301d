// The emulated node's flash chip and boot loader, for over-the-air updates. The core's mock
// (tests/host/common/MockEsp.cpp) accepts ESP.flashWrite() and forgets the bytes, and its
// ESP.flashRead() returns nothing, so the core's Updater could neither keep an image nor
// pass its own read-back check. These doubles keep what is written, as the chip would:
//
//   - erased sectors read 0xFF, writes land where they are addressed, reads return them;
//   - eboot_command_write(), the Updater's "copy the new image over the sketch at the next
//     boot" for the boot loader, writes the staged image to ./flash-app.bin (the sketch the
//     next boot runs) and tells the bench: "eboot copy SRC DST SIZE";
//   - ESP.restart() tells the bench "restart", then ends the process as the mock does; the
//     test boots the node again, with the new firmware if it wants.
//
// They replace the mock's functions at link time (the linker's --wrap, set in
// firmware/Makefile), so the core's files stay untouched.
#include <Arduino.h>
#include <MD5Builder.h>
#include <eboot_command.h>
#include <stdio.h>
#include <string.h>

#include <map>
#include <vector>

#include "emu_board.h"

namespace {

const uint32_t kSector = 4096;

std::map<uint32_t, std::vector<uint8_t>>& sectors() {
  static std::map<uint32_t, std::vector<uint8_t>> flash;
  return flash;
}

std::vector<uint8_t>& sector(uint32_t index) {
  std::vector<uint8_t>& s = sectors()[index];
  if (s.empty()) s.assign(kSector, 0xFF);
  return s;
}

bool write_bytes(uint32_t offset, const uint8_t* data, size_t size) {
  for (size_t i = 0; i < size; ++i) {
    uint32_t at = offset + static_cast<uint32_t>(i);
    // NOR flash: a write can only clear bits; writing over unerased bytes is the caller's bug.
    sector(at / kSector)[at % kSector] &= data[i];
  }
  return true;
}

bool read_bytes(uint32_t offset, uint8_t* data, size_t size) {
  for (size_t i = 0; i < size; ++i) {
    uint32_t at = offset + static_cast<uint32_t>(i);
    auto it = sectors().find(at / kSector);
    data[i] = it == sectors().end() ? 0xFF : it->second[at % kSector];
  }
  return true;
}

}  // namespace

extern "C" {

void __real__ZN8EspClass7restartEv();

bool __wrap__ZN8EspClass16flashEraseSectorEj(uint32_t index) {
  sector(index).assign(kSector, 0xFF);
  return true;
}

bool __wrap__ZN8EspClass10flashWriteEjPKhm(uint32_t offset, const uint8_t* data, size_t size) {
  return write_bytes(offset, data, size);
}

bool __wrap__ZN8EspClass10flashWriteEjPKjm(uint32_t offset, const uint32_t* data, size_t size) {
  return write_bytes(offset, reinterpret_cast<const uint8_t*>(data), size);
}

bool __wrap__ZN8EspClass9flashReadEjPhm(uint32_t offset, uint8_t* data, size_t size) {
  return read_bytes(offset, data, size);
}

bool __wrap__ZN8EspClass9flashReadEjPjm(uint32_t offset, uint32_t* data, size_t size) {
  return read_bytes(offset, reinterpret_cast<uint8_t*>(data), size);
}

void __wrap_eboot_command_write(struct eboot_command* cmd) {
  char line[96];
  if (cmd->action != ACTION_COPY_RAW) return;
  uint32_t src = cmd->args[0], dst = cmd->args[1], size = cmd->args[2];
  std::vector<uint8_t> image(size);
  read_bytes(src, image.data(), size);
  FILE* out = fopen("flash-app.bin", "wb");
  if (out != nullptr) {
    fwrite(image.data(), 1, image.size(), out);
    fclose(out);
  }
  snprintf(line, sizeof(line), "eboot copy %lu %lu %lu", static_cast<unsigned long>(src),
           static_cast<unsigned long>(dst), static_cast<unsigned long>(size));
  emu::bench_event(line);
}

void __wrap__ZN8EspClass7restartEv() {
  emu::bench_event("restart");
  __real__ZN8EspClass7restartEv();
}

}  // extern "C"

// The MD5 of the running sketch, which the HTTP updater sends as x-ESP8266-sketch-md5 and
// the mock leaves out: here the emulated node's own executable.
String EspClass::getSketchMD5() {
  static String md5;
  if (md5.length() > 0) return md5;
  MD5Builder builder;
  builder.begin();
  FILE* in = fopen("/proc/self/exe", "rb");
  uint8_t buf[4096];
  size_t n = 0;
  while (in != nullptr && (n = fread(buf, 1, sizeof(buf), in)) > 0) builder.add(buf, n);
  if (in != nullptr) fclose(in);
  builder.calculate();
  md5 = builder.toString();
  return md5;
}
