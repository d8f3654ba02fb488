#!/bin/sh
# install-deps.sh: install the Debian packages onnxq needs (only the missing ones).
set -eu

# The Debian packages onnxq builds, tests and runs with. Keep in step with
# configure.ac (which names these same packages when one is missing) and the README.
PACKAGES="build-essential autoconf automake libtool pkg-config
  protobuf-c-compiler libprotobuf-c-dev libonnx-dev
  libzstd-dev zlib1g-dev libjpeg62-turbo-dev libopenblas-dev check
  python3 python3-onnx libonnx-testdata dataset-fashion-mnist
  clang libclang-rt-dev
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user"

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
missing=
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "setup.sh: installing$missing"
    $SUDO apt-get update -q
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -q --no-install-recommends $missing
fi
