#include "kernel_test_support.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <set>
#include <string>

namespace sqz::kernels::test {
namespace {

std::set<Isa>& ran() {
  static std::set<Isa> s;
  return s;
}

// Printed once, after every test of the binary (a filtered run reports what its tests used).
class IsaReport : public ::testing::Environment {
 public:
  void TearDown() override {
    std::string used, skipped;
    for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
      if (ran().count(isa)) {
        used += std::string(used.empty() ? "" : " ") + isa_name(isa);
        continue;
      }
      const auto sup = supported_isas();
      const bool supported = std::find(sup.begin(), sup.end(), isa) != sup.end();
      skipped += std::string(skipped.empty() ? "" : ", ") + isa_name(isa) +
                 (supported ? " (no test selected used it)" : " (this CPU lacks it)");
    }
    std::printf("kernel tests ran: %s; skipped: %s\n", used.empty() ? "none" : used.c_str(),
                skipped.empty() ? "none" : skipped.c_str());
  }
};

const ::testing::Environment* const kReport = ::testing::AddGlobalTestEnvironment(new IsaReport);

}  // namespace

std::vector<Isa> tested_isas() {
  const std::vector<Isa> isas = supported_isas();
  ran().insert(isas.begin(), isas.end());
  return isas;
}

}  // namespace sqz::kernels::test
