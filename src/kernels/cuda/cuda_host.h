// Internal (host .cpp files of the CUDA library): error checks and the kernels' view of a DeviceMatrix.
#pragma once
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/device_args.h"

namespace sqz::kernels::cuda {

// Throws Error "CUDA error in <what>: <cudaGetErrorString>" unless err is cudaSuccess (0).
void check_cuda(int err, const char* what);
void check_cublas(int status, const char* what);
detail::MatArgs mat_args(const DeviceMatrix& m, float* y, int64_t ldy);

}  // namespace sqz::kernels::cuda
