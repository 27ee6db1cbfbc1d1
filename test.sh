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

# Python packages from PyPI for two tests, where pip can reach it: the official
# openai client (serve_openai_client) and Ray Data (library_ray_example). Where
# pip cannot, those tests are skipped, saying why (and fail under CI).
if [ -z "${OCTET_PYTHON:-}" ]; then
  venv=build/py-venv
  if ! "$venv/bin/python" -c "import openai, ray.data" 2>/dev/null; then
    (python3 -m venv "$venv" && timeout 600 "$venv/bin/pip" install -q openai "ray[data]") >/dev/null 2>&1 ||
      echo "note: pip could not install openai and ray[data] into $venv; the tests that use them will be skipped" >&2
  fi
  if "$venv/bin/python" -c "import openai" 2>/dev/null; then export OCTET_PYTHON="$PWD/$venv/bin/python"; fi
fi
ctest --test-dir build --output-on-failure -j"$jobs"

echo "--- the same tests under AddressSanitizer + UBSan" >&2
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DOCTET_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs"
