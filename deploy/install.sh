#!/usr/bin/env bash
# Installs the sensor gateway onto Raspberry Pi OS or Debian (Pi 5, Zero 2 W, an existing
# system): a venv in /opt/sensor-gateway, a system user, the systemd unit, the avahi service
# file and a config in /etc/sensor-gateway. Safe to run again; `--uninstall` removes it.
#
#   sudo deploy/install.sh                      install from this source tree and start
#   sudo deploy/install.sh --uninstall [--purge] remove (--purge: also config, state, user)
#
# Options:
#   --destdir DIR     install into DIR as if it were / (tests, image builds); nothing is
#                     started and no packages are installed
#   --prefix DIR      where the venv goes (default /opt/sensor-gateway)
#   --wheelhouse DIR  install the package and its dependencies from wheels in DIR, offline
#   --config FILE     initial /etc/sensor-gateway/gateway.toml (default: gateway/example.toml);
#                     an existing config is never overwritten
#   --no-venv         skip the venv (units still point into it)
#   --firstboot       also install the unit that applies gateway.toml from the boot
#                     partition at every boot (the SD image)
#   --no-start        enable but do not start the service
set -euo pipefail

SRC_DIR="$(cd "$(dirname "$0")/.." && pwd)"
DESTDIR=""
PREFIX="/opt/sensor-gateway"
WHEELHOUSE=""
CONFIG_SRC="$SRC_DIR/gateway/example.toml"
BOOT_DIR="/boot/firmware"
ACTION="install"
PURGE=0
VENV=1
FIRSTBOOT=0
START=1
USER_NAME="sensor-gateway"
DEVICE_GROUPS=(gpio i2c spi dialout)

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit "${1:-0}"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --destdir) DESTDIR="${2:?}"; shift 2 ;;
    --prefix) PREFIX="${2:?}"; shift 2 ;;
    --wheelhouse) WHEELHOUSE="$(cd "${2:?}" && pwd)"; shift 2 ;;
    --config) CONFIG_SRC="${2:?}"; shift 2 ;;
    --boot) BOOT_DIR="${2:?}"; shift 2 ;;
    --no-venv) VENV=0; shift ;;
    --firstboot) FIRSTBOOT=1; shift ;;
    --no-start) START=0; shift ;;
    --uninstall) ACTION="uninstall"; shift ;;
    --purge) PURGE=1; shift ;;
    -h|--help) usage 0 ;;
    *) echo "unknown option: $1" >&2; usage 2 >&2 ;;
  esac
done
DESTDIR="${DESTDIR%/}"
[ -n "$DESTDIR" ] && START=0

VENV_DIR="$PREFIX/venv"
ETC_DIR="/etc/sensor-gateway"
CONFIG="$ETC_DIR/gateway.toml"
UNIT_DIR="/etc/systemd/system"
AVAHI_FILE="/etc/avahi/services/sensor-gateway.service"
STATE_DIR="/var/lib/sensor-gateway"
UNITS=(sensor-gateway.service)
[ "$FIRSTBOOT" -eq 1 ] && UNITS+=(sensor-gateway-firstboot.service)

say() { printf '%s\n' "$*"; }

# systemd is running here (not a chroot, container build or DESTDIR)?
live_systemd() { [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; }

systemctl_() {
  if [ -n "$DESTDIR" ]; then systemctl --root="$DESTDIR" "$@"
  elif live_systemd; then systemctl "$@"
  else systemctl --root=/ "$@"   # chroot: edit symlinks only
  fi
}

ensure_packages() {
  local missing=() p
  for p in python3-venv avahi-daemon; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Group and user in $DESTDIR/etc; --prefix makes the shadow tools edit files only.
ensure_user() {
  local root_args=() g
  [ -n "$DESTDIR" ] && root_args=(--prefix "$DESTDIR")
  if [ -n "$DESTDIR" ] && [ ! -e "$DESTDIR/etc/passwd" ]; then
    say "no $DESTDIR/etc/passwd: skipping the system user"
    return 0
  fi
  for g in "${DEVICE_GROUPS[@]}"; do
    grep -q "^$g:" "$DESTDIR/etc/group" || groupadd "${root_args[@]}" --system "$g"
  done
  if ! grep -q "^$USER_NAME:" "$DESTDIR/etc/passwd"; then
    useradd "${root_args[@]}" --system --user-group --no-create-home \
      --home-dir "$STATE_DIR" --shell /usr/sbin/nologin "$USER_NAME"
  fi
  usermod "${root_args[@]}" -a -G "$(IFS=,; echo "${DEVICE_GROUPS[*]}")" "$USER_NAME"
}

install_venv() {
  local venv="$DESTDIR$VENV_DIR"
  # System site-packages: Raspberry Pi OS's own GPIO libraries (lgpio on the Pi 5) stay
  # visible to gpiozero inside the venv.
  [ -x "$venv/bin/python" ] || python3 -m venv --system-site-packages "$venv"
  if [ -n "$WHEELHOUSE" ]; then
    "$venv/bin/pip" install -q --no-index --find-links "$WHEELHOUSE" --upgrade 'sensor-gateway[flash]'
  else
    "$venv/bin/pip" install -q --upgrade "${SRC_DIR}[flash]"
  fi
  say "installed $("$venv/bin/pip" show sensor-gateway 2>/dev/null | sed -n 's/^Version: //p') into $VENV_DIR"
}

# render TEMPLATE: the unit with this install's paths.
render() {
  sed -e "s|@VENV@|$VENV_DIR|g" -e "s|@CONFIG@|$CONFIG|g" -e "s|@ETC@|$ETC_DIR|g" \
    -e "s|@BOOT@|$BOOT_DIR|g" "$1"
}

# put SRC DEST MODE: install a file when its content differs; prints what changed.
put() {
  local src="$1" dest="$DESTDIR$2" mode="$3"
  if [ -f "$dest" ] && cmp -s "$src" "$dest"; then return 0; fi
  install -D -m "$mode" "$src" "$dest"
  say "wrote $2"
}

do_install() {
  if [ -z "$DESTDIR" ]; then
    [ "$(id -u)" -eq 0 ] || { echo "run as root (sudo $0)" >&2; exit 1; }
    ensure_packages
  fi
  ensure_user
  [ "$VENV" -eq 1 ] && install_venv

  local tmp u
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' RETURN
  for u in "${UNITS[@]}"; do
    render "$SRC_DIR/deploy/systemd/$u.in" > "$tmp/$u"
    put "$tmp/$u" "$UNIT_DIR/$u" 0644
  done
  put "$SRC_DIR/deploy/avahi/sensor-gateway.service" "$AVAHI_FILE" 0644

  install -d -m 0755 "$DESTDIR$ETC_DIR"
  if [ ! -e "$DESTDIR$CONFIG" ]; then
    [ -f "$CONFIG_SRC" ] || { echo "no config to start from: $CONFIG_SRC" >&2; exit 1; }
    install -m 0640 "$CONFIG_SRC" "$DESTDIR$CONFIG"
    if ! grep -q '^\[\[broker\.listeners\]\]' "$CONFIG_SRC"; then
      # Clients on the network must log in: a listener that checks the password file.
      cat >> "$DESTDIR$CONFIG" <<LISTENER

# Added by deploy/install.sh: MQTT on every address, for the users in $ETC_DIR/passwd
# (add one with: sudo $VENV_DIR/bin/gateway passwd add $ETC_DIR/passwd NAME).
[[broker.listeners]]
kind = "tcp"
host = "0.0.0.0"
port = 1883
password_file = "$ETC_DIR/passwd"
LISTENER
    fi
    if [ "$FIRSTBOOT" -eq 1 ]; then
      # Editing $CONFIG would be undone: first boot rewrites it from the boot partition.
      say "wrote $CONFIG (replaced at every boot from $BOOT_DIR/gateway.toml: edit that one, then reboot)"
    else
      say "wrote $CONFIG (edit it, then: systemctl restart sensor-gateway)"
    fi
  fi
  # An empty password file, so a listener that names it starts (and refuses everyone but
  # loopback clients) until users are added.
  [ -e "$DESTDIR$ETC_DIR/passwd" ] || install -m 0640 /dev/null "$DESTDIR$ETC_DIR/passwd"

  # The service user reads the config (it may hold the broker's settings); others may not.
  # Numeric gid from the target's own group file, which may not be this system's.
  local gid
  gid="$(grep "^$USER_NAME:" "$DESTDIR/etc/group" 2>/dev/null | cut -d: -f3 || true)"
  [ -n "$gid" ] && chgrp "$gid" "$DESTDIR$CONFIG" "$DESTDIR$ETC_DIR/passwd"

  if live_systemd; then systemctl daemon-reload; fi
  systemctl_ enable --quiet "${UNITS[@]}"
  if [ "$START" -eq 1 ] && live_systemd; then
    systemctl restart sensor-gateway.service
    systemctl try-reload-or-restart avahi-daemon.service || true
    say "started sensor-gateway.service (logs: journalctl -u sensor-gateway -f)"
  fi
  say "sensor gateway installed"
}

do_uninstall() {
  local u all=(sensor-gateway.service sensor-gateway-firstboot.service)
  if live_systemd; then systemctl disable --now "${all[@]}" >/dev/null 2>&1 || true; fi
  for u in "${all[@]}"; do
    if [ -e "$DESTDIR$UNIT_DIR/$u" ]; then
      systemctl_ disable --quiet "$u" 2>/dev/null || true
      rm -f "$DESTDIR$UNIT_DIR/$u"
      say "removed $UNIT_DIR/$u"
    fi
  done
  if [ -e "$DESTDIR$AVAHI_FILE" ]; then rm -f "$DESTDIR$AVAHI_FILE"; say "removed $AVAHI_FILE"; fi
  if [ -d "$DESTDIR$PREFIX" ]; then rm -rf "$DESTDIR$PREFIX"; say "removed $PREFIX"; fi
  if [ "$PURGE" -eq 1 ]; then
    rm -rf "$DESTDIR$ETC_DIR" "$DESTDIR$STATE_DIR"
    say "removed $ETC_DIR and $STATE_DIR"
    if grep -q "^$USER_NAME:" "$DESTDIR/etc/passwd" 2>/dev/null; then
      local root_args=()
      [ -n "$DESTDIR" ] && root_args=(--prefix "$DESTDIR")
      userdel "${root_args[@]}" "$USER_NAME"
      say "removed user $USER_NAME"
    fi
  elif [ -d "$DESTDIR$ETC_DIR" ]; then
    say "kept $ETC_DIR (remove with --purge)"
  fi
  if live_systemd; then
    systemctl daemon-reload
    systemctl try-reload-or-restart avahi-daemon.service || true
  fi
  say "sensor gateway uninstalled"
}

"do_$ACTION"
