#!/usr/bin/env bash
# Installs what octet needs from Debian 12's packages, builds it, and runs the
# main job: a story from the tinystories-mini model that ships in assets/.
#   ./setup.sh            install, build, generate
#   ./setup.sh --no-run   install and build only
set -euo pipefail
cd "$(dirname "$0")"

packages=(
  build-essential cmake pkg-config git
  libdnnl-dev ocl-icd-opencl-dev   # oneDNN 2.6 (its CMake files want OpenCL)
  libsentencepiece-dev sentencepiece
  libcxxopts-dev nlohmann-json3-dev libfmt-dev libreadline-dev
  libgtest-dev libutf8proc-dev libpcre2-dev libcpp-httplib-dev
  python3-dev pybind11-dev         # the octet Python module
  python3-venv                     # test.sh: the openai client and Ray, for their tests
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# CUDA is optional: with /usr/local/cuda (or nvcc on PATH) kernels/cuda is built too.
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"

if [ "${1:-}" != "--no-run" ]; then
  echo "--- octet generate -p 'Once upon a time' (the shipped tinystories-mini model)" >&2
  ./build/octet generate -p "Once upon a time" -n 200 --seed 42
  echo "--- octet classify (the shipped sst2-mini sentiment classifier)" >&2
  ./build/octet classify "it 's a charming and often affecting journey ." "unflinchingly bleak and desperate"
fi
