#include <ATen/Dispatch.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "../checks.h"

namespace vipriors {
namespace {

constexpr int kVec = 4;  // bytes read per thread step: one 32-bit load, four outputs

template <typename T>
struct alignas(sizeof(T) * kVec) Vec4 {
  T v[kVec];
};

// NHWC uint8 and channels_last output share one element order, so the op is a flat
// map over B*H*W*3 elements where element i belongs to channel i % 3.
template <typename scalar_t>
__global__ void normalize_vec4_kernel(const uint8_t* __restrict__ src, scalar_t* __restrict__ dst, int64_t numel,
                                      const float* __restrict__ mean, const float* __restrict__ std) {
  const float m[3] = {mean[0], mean[1], mean[2]};
  const float s[3] = {std[0], std[1], std[2]};
  const int64_t groups = numel / kVec;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t g = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; g < groups; g += stride) {
    const uchar4 in = reinterpret_cast<const uchar4*>(src)[g];
    const uint8_t bytes[kVec] = {in.x, in.y, in.z, in.w};
    const int c0 = static_cast<int>((g * kVec) % 3);
    Vec4<scalar_t> out;
#pragma unroll
    for (int k = 0; k < kVec; ++k) {
      const int c = (c0 + k) % 3;
      out.v[k] = static_cast<scalar_t>((static_cast<float>(bytes[k]) - m[c]) / s[c]);
    }
    reinterpret_cast<Vec4<scalar_t>*>(dst)[g] = out;
  }
  // The last numel % 4 elements.
  const int64_t tail = groups * kVec + static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (tail < numel) {
    const int c = static_cast<int>(tail % 3);
    dst[tail] = static_cast<scalar_t>((static_cast<float>(src[tail]) - m[c]) / s[c]);
  }
}

at::Tensor normalize_cuda(const at::Tensor& images, const at::Tensor& mean, const at::Tensor& std, at::ScalarType dtype) {
  check_normalize_args(images, mean, std, dtype);
  const c10::cuda::CUDAGuard guard(images.device());
  at::Tensor out = empty_channels_last(images, dtype);
  const int64_t numel = images.numel();
  // uchar4 loads need a 4-byte aligned start; a view with an odd storage offset is copied.
  const at::Tensor src = (reinterpret_cast<uintptr_t>(images.data_ptr()) % kVec == 0) ? images : images.clone();

  const int threads = 256;
  const int64_t groups = (numel + kVec - 1) / kVec;
  int multiprocessors = 0;
  C10_CUDA_CHECK(cudaDeviceGetAttribute(&multiprocessors, cudaDevAttrMultiProcessorCount, images.device().index()));
  const int max_blocks = multiprocessors * 16;
  const int blocks = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>((groups + threads - 1) / threads, max_blocks)));
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();

  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, dtype, "vipriors_normalize_cuda", [&] {
    normalize_vec4_kernel<scalar_t><<<blocks, threads, 0, stream>>>(
        src.data_ptr<uint8_t>(), out.data_ptr<scalar_t>(), numel, mean.data_ptr<float>(), std.data_ptr<float>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(vipriors, CUDA, m) { m.impl("normalize", &normalize_cuda); }

}  // namespace vipriors
