#!/usr/bin/env bash
# Installs the Debian packages Nimbus needs to build, run and test, when missing.
# Usage: tools/deps.sh [--test]   (--test adds what the test suites need)
set -euo pipefail

packages=(
  g++ cmake ninja-build ccache pkg-config make
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev libsqlite3-dev libarchive-dev libseccomp-dev libcap-dev
  libfmt-dev libcli11-dev libpugixml-dev libcbor-dev libyaml-cpp-dev zlib1g-dev
  # The web console's charts (compiled into the binary).
  libjs-chart.js
  python3 zip unzip procps iproute2
  # What Lambda's managed python runtime provides to functions: boto3.
  python3-boto3
  # Runtimes: java17 (the JDK also compiles the runtime jars; Jackson (de)serialises
  # handler inputs and outputs) and ruby3.x.
  openjdk-17-jdk-headless libjackson2-databind-java ruby
)
if [[ "${1:-}" == "--test" ]]; then
  packages+=(googletest libgtest-dev libgmock-dev curl)
  # The libFuzzer targets (fuzz/): clang and its sanitizer and fuzzer runtimes;
  # sqlite3 for the crash suite's integrity checks.
  packages+=(clang libclang-rt-14-dev sqlite3)
  # The console's browser tests: headless Chromium driven by playwright-core,
  # with a font so that screenshots show text.
  packages+=(chromium fonts-dejavu-core)
  # AWS CLI v2 (`aws logs tail` and the CLI suites; a v1 earlier on PATH is used where it can be).
  packages+=(awscli)
  # The e2e suites run under Node's test runner; the machine's Node 20 is used if
  # present, otherwise Debian's.
  command -v node >/dev/null 2>&1 || packages+=(nodejs)
  command -v npm >/dev/null 2>&1 || packages+=(npm)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
echo "nimbus: installing Debian packages: ${missing[*]}" >&2
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 || { echo "nimbus: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
