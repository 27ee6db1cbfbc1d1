#!/usr/bin/env bash
# The whole test suite: the release build, then the same tests built with
# AddressSanitizer and UndefinedBehaviorSanitizer. Run ./setup.sh first on a
# fresh machine (it installs the dependencies).
# Tests that need ../shared (or $OCTET_SHARED_DIR) skip without it, and fail
# without it when CI is set.
set -euo pipefail
cd "$(dirname "$0")"
jobs=$(nproc)

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"

echo "--- the same tests under AddressSanitizer + UBSan" >&2
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DOCTET_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs"
