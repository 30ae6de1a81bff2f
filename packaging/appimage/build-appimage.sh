#!/usr/bin/env bash
# Recipe: Natter as an AppImage (x86_64). Not run in CI (it needs appimagetool, which is not
# in the registries CI reaches). Needs: the Rust toolchain, appimagetool on PATH
# (https://github.com/AppImage/appimagetool/releases). Output: target/appimage/Natter-x86_64.AppImage
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --locked --workspace --bins
app=target/appimage/Natter.AppDir
rm -rf "$app"
install -Dm755 target/release/natter "$app/usr/bin/natter"
install -Dm755 target/release/natter-cli "$app/usr/bin/natter-cli"
install -Dm644 resources/linux/org.natter.Natter.desktop "$app/org.natter.Natter.desktop"
install -Dm644 resources/linux/org.natter.Natter.desktop "$app/usr/share/applications/org.natter.Natter.desktop"
install -Dm644 resources/linux/org.natter.Natter.metainfo.xml "$app/usr/share/metainfo/org.natter.Natter.appdata.xml"
install -Dm644 resources/icons/natter-256.png "$app/org.natter.Natter.png"
install -Dm644 resources/icons/natter-256.png "$app/usr/share/icons/hicolor/256x256/apps/org.natter.Natter.png"
cat > "$app/AppRun" <<'RUN'
#!/bin/sh
here="$(dirname "$(readlink -f "$0")")"
exec "$here/usr/bin/natter" "$@"
RUN
chmod +x "$app/AppRun"
# The natter:// handler: desktops register it from the embedded .desktop file when the
# AppImage is integrated (appimaged, AppImageLauncher, or Gear Lever).
ARCH=x86_64 appimagetool "$app" target/appimage/Natter-x86_64.AppImage
