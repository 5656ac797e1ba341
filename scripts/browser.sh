#!/usr/bin/env bash
# The real browser of the web workbench's tests: Debian's Chromium, driven by Playwright for Python.
#
#   scripts/browser.sh [install]   apt-get install chromium (and a Chinese font) when missing (needs root), then
#                                  check that it starts headless; prints the browser's path as its last line
#   scripts/browser.sh path        print the path of the installed Chromium, or exit 2 when there is none
#
# Playwright's own browser download (`playwright install`) cannot run here and is never called: the tests hand
# Playwright this system browser as its executable_path. CI runs as root and starts without Chromium; the
# browser fixture in tests/conftest.py runs this script once per session when Chromium is not found.
set -euo pipefail

# Without a CJK font Chromium draws the Chinese pages as empty boxes: the screenshots would show nothing to read.
# WenQuanYi Micro Hei is small (5 MB) and covers Simplified Chinese.
FONT_PKG=fonts-wqy-microhei

have_cjk_font() {
  command -v fc-list >/dev/null 2>&1 && [ -n "$(fc-list :lang=zh-cn family 2>/dev/null | head -n 1)" ]
}

find_chromium() {
  local name
  if [ -n "${IPSCOPE_CHROMIUM:-}" ] && [ -x "$IPSCOPE_CHROMIUM" ]; then echo "$IPSCOPE_CHROMIUM"; return 0; fi
  for name in chromium chromium-browser; do
    if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
  done
  # Debian's wrapper is /usr/bin/chromium; the binary itself lives here
  if [ -x /usr/lib/chromium/chromium ]; then echo /usr/lib/chromium/chromium; return 0; fi
  return 1
}

check_headless() {
  # A real start: Chromium prints the document's DOM and exits. --no-sandbox because CI runs as root, where
  # Chromium's sandbox refuses to start.
  local bin=$1 out
  if ! out=$(timeout 60 "$bin" --headless --no-sandbox --disable-gpu --dump-dom \
        'data:text/html,<title>t</title><p>ipscope-browser-check</p>' 2>/dev/null); then
    echo "browser.sh: $bin did not start headless (try it by hand: $bin --headless --no-sandbox --dump-dom about:blank)" >&2
    return 1
  fi
  case "$out" in
    *ipscope-browser-check*) return 0 ;;
    *) echo "browser.sh: $bin started but printed no page: $out" >&2; return 1 ;;
  esac
}

cmd=${1:-install}
case "$cmd" in
  install)
    pkgs=()
    find_chromium >/dev/null || pkgs+=(chromium)
    have_cjk_font || pkgs+=("$FONT_PKG")
    if [ ${#pkgs[@]} -gt 0 ] && ! find_chromium >/dev/null; then
      if [ "$(id -u)" != 0 ]; then
        cat >&2 <<'EOF'
browser.sh: Chromium is not installed, and installing it needs root. Either
  - run this script as root (sudo scripts/browser.sh), which runs:
      apt-get update && apt-get install -y chromium fonts-wqy-microhei
  - or install Chromium yourself and point the tests at it: export IPSCOPE_CHROMIUM=/path/to/chromium
The tests marked `browser` are skipped until then (pytest -m "not browser" leaves them out).
EOF
        exit 2
      fi
    fi
    if [ ${#pkgs[@]} -gt 0 ]; then
      if [ "$(id -u)" = 0 ]; then
        echo "browser.sh: installing ${pkgs[*]} (apt-get)" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
      else
        # only the font is missing: the tests still run, the Chinese screenshots show boxes
        echo "browser.sh: no Chinese font; Chinese screenshots will show boxes (as root: apt-get install -y $FONT_PKG)" >&2
      fi
    fi
    bin=$(find_chromium) || { echo "browser.sh: apt-get installed chromium but no chromium binary was found" >&2; exit 1; }
    check_headless "$bin"
    echo "browser.sh: $("$bin" --version 2>/dev/null || echo chromium) starts headless" >&2
    echo "$bin"
    ;;
  path)
    find_chromium || { echo "browser.sh: Chromium is not installed; run: scripts/browser.sh install (as root)" >&2; exit 2; }
    ;;
  *)
    echo "usage: scripts/browser.sh [install] | path" >&2; exit 2
    ;;
esac
