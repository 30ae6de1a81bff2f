# Recipe: build Natter's MSI on Windows (not run in CI). Needs the Rust MSVC toolchain and
# the WiX CLI (`dotnet tool install --global wix`). Output: target\msi\Natter-<version>.msi
$ErrorActionPreference = "Stop"
Set-Location (Join-Path $PSScriptRoot "..\..")
cargo build --release --locked -p natter-ui -p natter --bin natter --bin natter-cli
$version = (Select-String -Path Cargo.toml -Pattern '^version = "(.*)"' | Select-Object -First 1).Matches.Groups[1].Value
New-Item -ItemType Directory -Force target\msi | Out-Null
Push-Location packaging\windows
wix build natter.wxs -d Version=$version -o ..\..\target\msi\Natter-$version.msi
Pop-Location
