#!/usr/bin/env bash
# Recipe: Natter.app and a .dmg on macOS (not run in CI). Needs the Rust toolchain and the
# Xcode command line tools (iconutil, hdiutil). Output: target/macos/Natter-<version>.dmg
# Sign and notarize with your Developer ID before distributing (codesign, notarytool).
set -euo pipefail
cd "$(dirname "$0")/../.."
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
cargo build --release --locked -p natter-ui -p natter --bin natter --bin natter-cli
out=target/macos; app="$out/Natter.app"
rm -rf "$app" && mkdir -p "$app/Contents/MacOS" "$app/Contents/Resources"
cp target/release/natter target/release/natter-cli "$app/Contents/MacOS/"
sed "s/@VERSION@/$version/g" packaging/macos/Info.plist > "$app/Contents/Info.plist"
iconset="$out/Natter.iconset"; rm -rf "$iconset"; mkdir -p "$iconset"
for s in 16 32 128 256 512; do
  cp "resources/icons/natter-$s.png" "$iconset/icon_${s}x${s}.png"
done
for s in 16 32 128 256; do
  cp "resources/icons/natter-$((s * 2)).png" "$iconset/icon_${s}x${s}@2x.png" 2>/dev/null || true
done
iconutil -c icns "$iconset" -o "$app/Contents/Resources/Natter.icns"
hdiutil create -volname Natter -srcfolder "$app" -ov -format UDZO "$out/Natter-$version.dmg"
