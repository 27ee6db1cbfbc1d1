#!/usr/bin/env bash
# Builds octet and its tests here (the GPU machine has no Debian packages and
# no network) and packs what bench/cuda/device_check.sh needs into .device/:
# the binaries, the non-system libraries they load, and the shared test data
# (copied from ../shared, never committed: .device/ is git-ignored).
# Usage: bench/cuda/bundle.sh   then send .device with the device tool's carry.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
shared=${OCTET_SHARED_DIR:-$root/../shared}
# Portable x86-64 code: the GPU machine's CPU is not this one.
cmake -S . -B build-device -DCMAKE_BUILD_TYPE=Release -DOCTET_NATIVE=OFF >/dev/null
cmake --build build-device -j"$(nproc)" --target octet octet_tests
rm -rf .device && mkdir -p .device/stage/lib .device/shared/models/stories260K .device/shared/data
cp build-device/octet build-device/tests/octet_tests .device/stage/
strip .device/stage/octet .device/stage/octet_tests
# Every library the binaries load from Debian's packages, except the C and
# C++ runtimes (the GPU machine has its own) and CUDA's (its driver's).
ldd build-device/octet build-device/tests/octet_tests | awk '/=> \/lib\/x86_64-linux-gnu\// {print $3}' | sort -u |
  grep -Ev '/(libc|libm|libdl|libpthread|librt|libgcc_s|libstdc\+\+)\.so' | xargs -I{} cp -L {} .device/stage/lib/
ls .device/stage/lib
tar -C .device/stage -cJf .device/bundle.tar.xz .
rm -rf .device/stage
cp "$shared"/models/stories260K/{stories260K.bin,tok512.model} .device/shared/models/stories260K/
cp "$shared"/data/{tinystories_val_head.txt,sst2_dev.tsv} .device/shared/data/
du -sh .device
