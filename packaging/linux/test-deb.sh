#!/usr/bin/env bash
# The packaging test (run by scripts/test, as root): validate the shipped desktop files,
# build the .deb, install it with dpkg, check each program's --version from /usr/bin, start
# the installed app under Xvfb and see its window, then purge it and check nothing is left.
set -euo pipefail
cd "$(dirname "$0")/../.."

echo "== desktop-file-validate, appstreamcli validate"
desktop-file-validate resources/linux/org.natter.Natter.desktop
appstreamcli validate --no-net resources/linux/org.natter.Natter.metainfo.xml

packaging/linux/build-deb.sh
deb=$(ls -t target/deb/natter_*.deb | head -1)

if dpkg -s natter >/dev/null 2>&1; then dpkg --purge natter >/dev/null; fi
echo "== dpkg -i $deb"
dpkg -i "$deb" >/dev/null
trap 'dpkg --purge natter >/dev/null 2>&1 || true; kill "${xvfb:-}" "${app:-}" 2>/dev/null || true' EXIT

v1=$(/usr/bin/natter --version); v2=$(/usr/bin/natter-cli --version); v3=$(/usr/bin/natter-rendezvous --version)
echo "$v1 / $v2 / $v3"
rev=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
for v in "$v1" "$v2" "$v3"; do
  case "$v" in
    *"($rev)"*) ;;
    *) echo "FAIL: '$v' does not name revision $rev" >&2; exit 1 ;;
  esac
done
[ "${v1#* }" = "${v2#* }" ] && [ "${v2#* }" = "${v3#* }" ] || { echo "FAIL: versions differ" >&2; exit 1; }
desktop-file-validate /usr/share/applications/org.natter.Natter.desktop
[ -f /usr/share/icons/hicolor/256x256/apps/org.natter.Natter.png ]
[ -f /usr/lib/systemd/system/natter-rendezvous.service ]
echo "== completions and the man page"
bash -c 'source /usr/share/bash-completion/completions/natter-cli && complete -p natter-cli' >/dev/null \
  || { echo "FAIL: the bash completion does not load" >&2; exit 1; }
grep -q '^#compdef natter-cli' /usr/share/zsh/vendor-completions/_natter-cli
grep -q 'complete -c natter-cli' /usr/share/fish/vendor_completions.d/natter-cli.fish
page=$(zcat /usr/share/man/man1/natter-cli.1.gz)
grep -q '^\.TH natter-cli 1' <<<"$page" || { echo "FAIL: no natter-cli(1) man page" >&2; exit 1; }

echo "== the installed app opens a window"
display=:87
Xvfb "$display" -screen 0 1024x768x24 -nolisten tcp -noreset >/dev/null 2>&1 &
xvfb=$!
for _ in $(seq 50); do xwininfo -display "$display" -root >/dev/null 2>&1 && break; sleep 0.1; done
profile=$(mktemp -d)
DISPLAY=$display NATTER_PROFILE=$profile NATTER_MDNS=off NATTER_LISTEN=127.0.0.1:0 \
  /usr/bin/natter >"$profile/app.log" 2>&1 &
app=$!
found=""
for _ in $(seq 100); do
  if xwininfo -display "$display" -root -tree 2>/dev/null | grep -q '"Natter'; then found=1; break; fi
  kill -0 "$app" 2>/dev/null || break
  sleep 0.2
done
if [ -z "$found" ]; then
  echo "FAIL: no Natter window; the app said:" >&2; cat "$profile/app.log" >&2; exit 1
fi
echo "window up"
kill "$app"; wait "$app" 2>/dev/null || true
kill "$xvfb"; wait "$xvfb" 2>/dev/null || true
rm -rf "$profile"

echo "== dpkg --purge natter"
dpkg --purge natter >/dev/null
for f in /usr/bin/natter /usr/bin/natter-cli /usr/bin/natter-rendezvous \
         /usr/share/applications/org.natter.Natter.desktop \
         /usr/share/bash-completion/completions/natter-cli /usr/share/man/man1/natter-cli.1.gz; do
  [ ! -e "$f" ] || { echo "FAIL: $f left after purge" >&2; exit 1; }
done
trap - EXIT
echo "== package test passed ($(du -h "$deb" | cut -f1))"
