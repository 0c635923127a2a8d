#!/usr/bin/env bash
# Make sure a headless Chromium is present for the browser tests: Debian's `chromium`
# (plus a Japanese font so screenshots show kana/kanji, not boxes). Playwright drives
# this system browser; it never downloads one. Idempotent and quick when installed.
set -euo pipefail
if [ -n "${MANGAASSIST_CHROMIUM:-}" ] && [ -x "$MANGAASSIST_CHROMIUM" ]; then
  exit 0
fi
packages=()
command -v chromium >/dev/null 2>&1 || packages+=(chromium)
[ -e /usr/share/fonts/opentype/ipafont-gothic/ipag.ttf ] || packages+=(fonts-ipafont-gothic)
[ ${#packages[@]} -eq 0 ] && exit 0
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if sudo -n true 2>/dev/null; then sudo="sudo -n"; else
    echo "browser tests need: ${packages[*]} (apt-get install -y ${packages[*]}), or MANGAASSIST_CHROMIUM=/path/to/chromium" >&2
    exit 1
  fi
fi
echo "installing ${packages[*]} with apt-get"
export DEBIAN_FRONTEND=noninteractive
apt_install() { $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${packages[@]}"; }
apt_install || { $sudo apt-get -o DPkg::Lock::Timeout=600 update -q && apt_install; }
chromium --version
