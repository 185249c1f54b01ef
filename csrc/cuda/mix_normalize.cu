// Launches of the fused ops' CUDA kernels. What each thread does lives in
// csrc/kernel_bodies.h (checked on the CPU by tests/test_kernel_bodies.py); only the grid,
// the stream and the SIA statistics' block reduction are here.
#include <ATen/Dispatch.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <cub/block/block_reduce.cuh>
#include <optional>

#include "../checks.h"
#include "../kernel_bodies.h"

namespace vipriors {
namespace {

template <typename scalar_t>
__global__ void mix_normalize_kernel(const MixArgs<scalar_t> args) {
  mix_normalize_thread(args, static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x,
                       static_cast<int64_t>(gridDim.x) * blockDim.x);
}

struct MergeStats {
  __device__ ChannelStats operator()(const ChannelStats& a, const ChannelStats& b) const {
    ChannelStats merged = a;
    merged.merge(b);
    return merged;
  }
};

// One block per image: each thread's share of the statistics (none for an image the mask
// leaves out: the branch is the same for the whole block), one block reduction, then the
// coefficients.
__global__ void sia_affine_kernel(const uint8_t* images, int64_t B, int64_t pixels, const bool* mask,
                                  const float* shift, const float* stretch, float* coef) {
  using Reduce = cub::BlockReduce<ChannelStats, kThreadsPerBlock>;
  __shared__ typename Reduce::TempStorage storage;
  const int64_t i = blockIdx.x;
  const bool masked = mask[i];
  ChannelStats stats;
  stats.clear();
  if (masked) stats = sia_partial(images + i * pixels * 3, pixels, threadIdx.x, blockDim.x);
  const ChannelStats total = Reduce(storage).Reduce(stats, MergeStats());
  if (threadIdx.x == 0) sia_write(total, i, B, pixels, masked, shift, stretch, coef);
}

int64_t multiprocessors() { return at::cuda::getCurrentDeviceProperties()->multiProcessorCount; }

at::Tensor sia_affine_cuda(const at::Tensor& images, const at::Tensor& sia_mask, const at::Tensor& sia_shift,
                           const at::Tensor& sia_stretch) {
  check_sia_args(images, sia_mask, sia_shift, sia_stretch);
  const c10::cuda::CUDAGuard guard(images.device());
  const int64_t B = images.size(0);
  at::Tensor coef = at::empty({2, B, 3}, images.options().dtype(at::kFloat));
  sia_affine_kernel<<<B, kThreadsPerBlock, 0, c10::cuda::getCurrentCUDAStream()>>>(
      images.data_ptr<uint8_t>(), B, images.size(1) * images.size(2), sia_mask.data_ptr<bool>(),
      sia_shift.data_ptr<float>(), sia_stretch.data_ptr<float>(), coef.data_ptr<float>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return coef;
}

at::Tensor mix_normalize_cuda(const at::Tensor& images, const at::Tensor& regions, const at::Tensor& blend_src,
                              const at::Tensor& blend_weight, const std::optional<at::Tensor>& sia_coef,
                              const at::Tensor& mean, const at::Tensor& std, at::ScalarType dtype) {
  check_mix_args(images, regions, blend_src, blend_weight, sia_coef, mean, std, dtype);
  const c10::cuda::CUDAGuard guard(images.device());
  const int64_t B = images.size(0), H = images.size(1), W = images.size(2);
  at::Tensor out = empty_channels_last(images, dtype);
  const Launch launch = grid_stride_launch((B * H * W + kGroupPixels - 1) / kGroupPixels, multiprocessors());
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, dtype, "vipriors_mix_normalize_cuda", [&] {
    const MixArgs<scalar_t> args{images.data_ptr<uint8_t>(), out.data_ptr<scalar_t>(), B, H, W,
                                 static_cast<int>(regions.size(1)), regions.data_ptr<int32_t>(),
                                 blend_src.data_ptr<int32_t>(), blend_weight.data_ptr<float>(),
                                 sia_coef.has_value() ? sia_coef->data_ptr<float>() : nullptr,
                                 mean.data_ptr<float>(), std.data_ptr<float>()};
    mix_normalize_kernel<scalar_t><<<launch.blocks, launch.threads, 0, c10::cuda::getCurrentCUDAStream()>>>(args);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(vipriors, CUDA, m) {
  m.impl("sia_affine", &sia_affine_cuda);
  m.impl("mix_normalize", &mix_normalize_cuda);
}

}  // namespace vipriors
