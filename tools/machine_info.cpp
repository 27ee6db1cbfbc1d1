#include "tools/machine_info.h"

#include "git_commit.h"  // generated: tools/git_commit.cmake
#include "kernels/cpu/gemm_int8.h"
#include "kernels/cpu/matmul_int8_dnnl.h"

#include <sys/resource.h>
#include <unistd.h>

#include <fmt/format.h>

#include <fstream>
#include <sstream>

namespace octet::cli {

int machine_cores() { return static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN)); }

std::string machine_description() {
  std::ifstream in("/proc/cpuinfo");
  std::string line, model = "unknown CPU", isa;
  while (std::getline(in, line)) {
    if (line.starts_with("model name") && model == "unknown CPU") model = line.substr(line.find(':') + 2);
    if (line.starts_with("flags") && isa.empty()) {
      std::istringstream flags(line.substr(line.find(':') + 1));
      for (std::string f; flags >> f;) {
        if (f == "avx2" || f == "fma" || f == "avx512f" || f == "avx512_vnni" || f == "avx_vnni" || f == "amx_int8") {
          isa += (isa.empty() ? "" : " ") + f;
        }
      }
    }
  }
  // Which int8 kernel the CPU backend runs a prompt's products on here (oneDNN's
  // brgemm on AMX or AVX-512 VNNI, octet's GEMM over its packed copy on VNNI
  // without AMX, in 512 or 256 bits, or octet's kernel over plain rows, with
  // AVX2): the numbers differ by far more than the ISA line suggests.
  const std::string kernel = cpu::MatmulInt8Dnnl().implementation(256, 768, 768);
  return fmt::format("{}, {} cores, {}; int8 matmuls on {}", model, machine_cores(), isa.empty() ? "no AVX2" : isa,
                     kernel.empty() ? cpu::gemm_int8_kernel() : kernel);
}

std::string build_description() {
  return fmt::format("git {}, {}, g++ {}.{}", OCTET_GIT_COMMIT, OCTET_BUILD_TYPE, __GNUC__, __GNUC_MINOR__);
}

std::size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t size_pages = 0, resident_pages = 0;
  if (!(statm >> size_pages >> resident_pages)) return 0;
  return resident_pages * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

std::size_t peak_rss_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<std::size_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

}  // namespace octet::cli
