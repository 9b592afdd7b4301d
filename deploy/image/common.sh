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
