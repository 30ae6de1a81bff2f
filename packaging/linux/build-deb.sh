#!/usr/bin/env bash
# Builds target/deb/natter_<version>_<arch>.deb: natter (the app), natter-cli and
# natter-rendezvous from a release build, the desktop file (natter:// URL handler), icons,
# AppStream metainfo, natter-cli's shell completions (bash, zsh, fish) and man page, and a
# systemd unit for the rendezvous (installed, never enabled).
# Plain dpkg-deb: no cargo plugin to install. Usage: packaging/linux/build-deb.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
arch=$(dpkg --print-architecture)
echo "== release build of natter $version ($arch)"
# No debug info in the package build (the benches keep line tables): faster, smaller.
export CARGO_PROFILE_RELEASE_DEBUG=0
cargo build --release --locked --workspace --bins

root=target/deb/root
rm -rf "$root"
for bin in natter natter-cli natter-rendezvous; do
  install -Dm755 "target/release/$bin" "$root/usr/bin/$bin"
done
strip "$root"/usr/bin/* 2>/dev/null || true
install -Dm644 resources/linux/org.natter.Natter.desktop \
  "$root/usr/share/applications/org.natter.Natter.desktop"
install -Dm644 resources/linux/org.natter.Natter.metainfo.xml \
  "$root/usr/share/metainfo/org.natter.Natter.metainfo.xml"
install -Dm644 resources/icons/natter.svg \
  "$root/usr/share/icons/hicolor/scalable/apps/org.natter.Natter.svg"
for s in 16 24 32 48 64 128 256 512; do
  install -Dm644 "resources/icons/natter-$s.png" \
    "$root/usr/share/icons/hicolor/${s}x${s}/apps/org.natter.Natter.png"
done
install -Dm644 packaging/linux/natter-rendezvous.service \
  "$root/usr/lib/systemd/system/natter-rendezvous.service"
# Shell completions and the man page, generated from natter-cli's own grammar.
cli=target/release/natter-cli
install -d "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" \
  "$root/usr/share/fish/vendor_completions.d" "$root/usr/share/man/man1"
"$cli" completions bash > "$root/usr/share/bash-completion/completions/natter-cli"
"$cli" completions zsh > "$root/usr/share/zsh/vendor-completions/_natter-cli"
"$cli" completions fish > "$root/usr/share/fish/vendor_completions.d/natter-cli.fish"
"$cli" man-page | gzip -9n > "$root/usr/share/man/man1/natter-cli.1.gz"
chmod 644 "$root"/usr/share/bash-completion/completions/* "$root"/usr/share/zsh/vendor-completions/* \
  "$root"/usr/share/fish/vendor_completions.d/* "$root"/usr/share/man/man1/*
install -Dm644 README.md "$root/usr/share/doc/natter/README.md"
install -Dm644 packaging/linux/copyright "$root/usr/share/doc/natter/copyright"

size_kb=$(du -sk "$root/usr" | cut -f1)
mkdir -p "$root/DEBIAN"
cat > "$root/DEBIAN/control" <<CONTROL
Package: natter
Version: $version
Architecture: $arch
Maintainer: The Natter developers <dev@natter.invalid>
Installed-Size: $size_kb
Depends: libc6 (>= 2.36), libgcc-s1
Recommends: libvulkan1 | libegl1, libxkbcommon-x11-0, libx11-6, libxcursor1, libxi6, libxrandr2, libwayland-client0, fonts-dejavu-core, fonts-noto-color-emoji
Section: net
Priority: optional
Homepage: https://github.com/natter-im/natter
Description: peer-to-peer desktop messenger, end-to-end encrypted
 Natter chats and sends files over a direct QUIC connection between two
 computers, authenticated by the users' own ed25519 keys. On a LAN it needs
 no server; across networks the included natter-rendezvous server introduces
 peers and keeps sealed messages for offline contacts (its systemd unit is
 installed but not enabled).
CONTROL
# Desktop database and icon cache: Debian's triggers (desktop-file-utils, hicolor) do this
# when those packages are installed; nothing to run by hand.
out="target/deb/natter_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$out" >/dev/null
echo "== built $out ($(du -h "$out" | cut -f1))"
