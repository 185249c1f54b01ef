// The launch of normalize's CUDA kernel; each thread's work is normalize_thread in
// csrc/kernel_bodies.h (checked on the CPU by tests/test_kernel_bodies.py). A view that is
// not 4-byte aligned is read byte by byte, never copied.
#include <ATen/Dispatch.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "../checks.h"
#include "../kernel_bodies.h"

namespace vipriors {
namespace {

template <typename scalar_t>
__global__ void normalize_kernel(const uint8_t* src, scalar_t* dst, int64_t pixels, const float* mean, const float* std) {
  normalize_thread(src, dst, pixels, mean, std, static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x,
                   static_cast<int64_t>(gridDim.x) * blockDim.x);
}

at::Tensor normalize_cuda(const at::Tensor& images, const at::Tensor& mean, const at::Tensor& std, at::ScalarType dtype) {
  check_normalize_args(images, mean, std, dtype);
  const c10::cuda::CUDAGuard guard(images.device());
  at::Tensor out = empty_channels_last(images, dtype);
  const int64_t pixels = images.size(0) * images.size(1) * images.size(2);
  const Launch launch = grid_stride_launch((pixels + kGroupPixels - 1) / kGroupPixels,
                                           at::cuda::getCurrentDeviceProperties()->multiProcessorCount);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, dtype, "vipriors_normalize_cuda", [&] {
    normalize_kernel<scalar_t><<<launch.blocks, launch.threads, 0, c10::cuda::getCurrentCUDAStream()>>>(
        images.data_ptr<uint8_t>(), out.data_ptr<scalar_t>(), pixels, mean.data_ptr<float>(), std.data_ptr<float>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(vipriors, CUDA, m) { m.impl("normalize", &normalize_cuda); }

}  // namespace vipriors
