// The GPU path's adapter in every build: it says why it cannot run (built without CUDA, or no device)
// with a clear Error instead of failing later.
#include <gtest/gtest.h>

#include "core/error.h"
#include "model/cuda_engine.h"
#include "support/tiny_model.h"

namespace {

using namespace sqz;

TEST(CudaEngineBuild, ReportsWhyItCannotRun) {
  const std::string why = cuda_unavailable_reason();
  if (!cuda_built()) {
    EXPECT_EQ(why, "this sqz was built without CUDA");
    auto m = make_random_model(tiny_config(), 1);
    EXPECT_THROW(CudaLlama(*m, 8), Error);
  } else if (!why.empty()) {
    EXPECT_EQ(why.rfind("no CUDA device", 0), 0u) << why;
    auto m = make_random_model(tiny_config(), 1);
    try {
      CudaLlama g(*m, 8);
      ADD_FAILURE() << "constructed without a device";
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).rfind("no CUDA device", 0), 0u) << e.what();
    }
  } else {
    auto m = make_random_model(tiny_config(), 1);
    EXPECT_NO_THROW(CudaLlama(*m, 8));
  }
}

}  // namespace
