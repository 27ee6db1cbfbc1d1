# Sourced (from the repository root) by the bench scripts that run octet's
# code for an older CPU class on this CPU's cores: `isa_build ISA` builds
# octet for that class into build-ISA (OCTET_NATIVE off, -march of the class)
# and sets `build` to that folder and `dnnl_isa` to the cap for oneDNN
# (ONEDNN_MAX_CPU_ISA), so that neither octet's own kernels nor oneDNN's use
# instructions the class lacks.
#   avx2: AVX2 without VNNI (AMD Zen 1-3, Intel before Ice Lake): -march=haswell
#     (AVX2 and FMA, 16 vector registers), oneDNN at AVX2.
#   avx-vnni: AVX2 with VNNI in 256 bits (Intel's client CPUs from Alder Lake):
#     -march=alderlake, oneDNN at AVX2_VNNI.
isa_build() {
  local march
  case "$1" in
    avx2) march=haswell dnnl_isa=AVX2 ;;
    avx-vnni) march=alderlake dnnl_isa=AVX2_VNNI ;;
    *)
      echo "ISA must be avx2 or avx-vnni, not '$1'" >&2
      exit 2
      ;;
  esac
  build=build-$1
  echo "building octet for $1 into $build (-march=$march)..." >&2
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DOCTET_NATIVE=OFF -DCMAKE_CXX_FLAGS=-march=$march \
    -DOCTET_ENABLE_CUDA=OFF -DOCTET_BUILD_PYTHON=OFF >/dev/null
  cmake --build "$build" -j"$(nproc)" --target octet >/dev/null
}
