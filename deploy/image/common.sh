# shellcheck shell=bash
# Shared helpers for the image build scripts; sourced, never run.
# Paths: the build cache (base tarball, wheelhouse, root directory, raw image) lives outside
# the work tree, so `make clean` does not throw away the slow base; the output goes to out/.

# shellcheck disable=SC2034  # these are for the scripts that source this file
DEPLOY_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO_DIR="$(cd "$DEPLOY_DIR/.." && pwd)"
IMAGE_DIR="$DEPLOY_DIR/image"
CACHE_DIR="${CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sensor-gateway-image}"
OUT_DIR="${OUT_DIR:-$REPO_DIR/out}"
SUITE="${SUITE:-bookworm}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
SECURITY_MIRROR="${SECURITY_MIRROR:-http://deb.debian.org/debian-security}"

_step_started=0

# step NAME: prints a numbered progress line and remembers when the step started.
step() {
  _step_started=$SECONDS
  printf '\n==> [%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2
}

# step_done: prints how long the current step took.
step_done() {
  printf '    done in %ss\n' "$((SECONDS - _step_started))" >&2
}

die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

need_root() {
  [ "$(id -u)" -eq 0 ] || die "the image build needs root (chroot, mmdebstrap, device nodes)"
}

# host_deps PKG...: installs the Debian packages the build host needs, only when missing.
host_deps() {
  local missing=() p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "    installing host packages: ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# enable_binfmt: lets arm64 programs run in a chroot through qemu-user (needed by mmdebstrap
# and by the layer step). Mounting binfmt_misc works in this sandbox without systemd.
enable_binfmt() {
  if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  fi
  if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    update-binfmts --enable qemu-aarch64 >/dev/null
  fi
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || die "cannot register qemu-aarch64 with binfmt_misc"
}

# project_version: the version from pyproject.toml, used in the image file name.
project_version() {
  sed -n 's/^version *= *"\(.*\)"/\1/p' "$REPO_DIR/pyproject.toml" | head -n1
}

# update_keys: sets UPDATE_KEY and UPDATE_CERT (PEM files), the key update bundles are signed
# with and the certificate the image trusts (/etc/rauc/keyring.pem). Without them in the
# environment, a development key and self-signed certificate are made once in
# $CACHE_DIR/update-keys: keep them, or the gateways flashed so far refuse later bundles.
update_keys() {
  if [ -n "${UPDATE_KEY:-}" ] && [ -n "${UPDATE_CERT:-}" ]; then return 0; fi
  local keys="$CACHE_DIR/update-keys"
  UPDATE_KEY="$keys/key.pem" UPDATE_CERT="$keys/cert.pem"
  if [ ! -s "$UPDATE_KEY" ] || [ ! -s "$UPDATE_CERT" ]; then
    mkdir -p "$keys"
    chmod 0700 "$keys"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 7300 \
      -subj "/CN=sensor-gateway development updates" \
      -keyout "$UPDATE_KEY" -out "$UPDATE_CERT" 2>/dev/null
    echo "    made a development update key: $UPDATE_KEY (set UPDATE_KEY/UPDATE_CERT for releases)" >&2
  fi
}

# SLOT_MIB: the size of each root slot (A and B). A bundle's root file system must fit one,
# so this leaves room for later versions to grow (the root is some 800 MiB today).
SLOT_MIB=1536

# make_root_fs DIR IMAGE: the read-only root file system of DIR as an ext4 image, sized to
# its content plus a tenth (nothing is written to it on the gateway).
make_root_fs() {
  local used_mib root_mib
  used_mib=$(du -s --block-size=1M "$1" | cut -f1)
  root_mib=$(( (used_mib * 11 / 10 + 64 + 63) / 64 * 64 ))
  mkfs.ext4 -q -F -L RASPIROOT -d "$1" -E root_owner=0:0 "$2" "${root_mib}M"
}
