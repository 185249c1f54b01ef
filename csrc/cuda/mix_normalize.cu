#include <ATen/Dispatch.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "../checks.h"

namespace vipriors {
namespace {

constexpr int kStatsThreads = 256;
constexpr int kRowThreads = 128;

// Per masked image: exact integer channel sums and min/max by a block reduction, then the
// SIA affine coefficients (see csrc/cpu/mix_normalize.cpp for the definition).
__global__ void sia_coefficients_kernel(const uint8_t* __restrict__ images, int64_t pixels, const bool* __restrict__ mask,
                                        const float* __restrict__ shift, const float* __restrict__ stretch,
                                        float* __restrict__ a, float* __restrict__ b) {
  const int64_t i = blockIdx.x;
  if (!mask[i]) {
    if (threadIdx.x < 3) {
      a[i * 3 + threadIdx.x] = 1.f;
      b[i * 3 + threadIdx.x] = 0.f;
    }
    return;
  }
  __shared__ unsigned long long sum[3][kStatsThreads];
  __shared__ unsigned int lo[3][kStatsThreads], hi[3][kStatsThreads];
  unsigned long long my_sum[3] = {0, 0, 0};
  unsigned int my_lo[3] = {255, 255, 255}, my_hi[3] = {0, 0, 0};
  const uint8_t* p = images + i * pixels * 3;
  for (int64_t k = threadIdx.x; k < pixels; k += blockDim.x) {
#pragma unroll
    for (int c = 0; c < 3; ++c) {
      const unsigned int v = p[3 * k + c];
      my_sum[c] += v;
      my_lo[c] = min(my_lo[c], v);
      my_hi[c] = max(my_hi[c], v);
    }
  }
#pragma unroll
  for (int c = 0; c < 3; ++c) {
    sum[c][threadIdx.x] = my_sum[c];
    lo[c][threadIdx.x] = my_lo[c];
    hi[c][threadIdx.x] = my_hi[c];
  }
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) {
#pragma unroll
      for (int c = 0; c < 3; ++c) {
        sum[c][threadIdx.x] += sum[c][threadIdx.x + stride];
        lo[c][threadIdx.x] = min(lo[c][threadIdx.x], lo[c][threadIdx.x + stride]);
        hi[c][threadIdx.x] = max(hi[c][threadIdx.x], hi[c][threadIdx.x + stride]);
      }
    }
    __syncthreads();
  }
  if (threadIdx.x < 3) {
    const int c = threadIdx.x;
    float ac = 1.f, bc = 0.f;
    if (lo[c][0] != hi[c][0]) {
      const double m = static_cast<double>(sum[c][0]) / static_cast<double>(pixels);
      const float u = shift[i * 3 + c], v = stretch[i * 3 + c];
      ac = v;
      bc = static_cast<float>(__dmul_rn(m, __dsub_rn(static_cast<double>(u), static_cast<double>(v))));
    }
    a[i * 3 + c] = ac;
    b[i * 3 + c] = bc;
  }
}

// Colour-adjusted value of one source byte, rounded as the reference does (no FMA).
__device__ __forceinline__ float adjusted(uint8_t x, float a, float b) {
  return fminf(fmaxf(__fadd_rn(__fmul_rn(static_cast<float>(x), a), b), 0.f), 255.f);
}

// One block per (output row chunk, row, sample); one thread per output pixel.
template <typename scalar_t>
__global__ void mix_normalize_kernel(const uint8_t* __restrict__ images, int32_t B, int32_t H, int32_t W, int32_t R,
                                     const int32_t* __restrict__ regions, const int32_t* __restrict__ blend_src,
                                     const float* __restrict__ blend_weight, const float* __restrict__ coef_a,
                                     const float* __restrict__ coef_b, const float* __restrict__ mean,
                                     const float* __restrict__ std, scalar_t* __restrict__ out) {
  __shared__ int32_t plan[kMaxRegions * kRegionFields];
  const int32_t i = blockIdx.z, y = blockIdx.y;
  if (threadIdx.x < R * kRegionFields) plan[threadIdx.x] = regions[static_cast<int64_t>(i) * R * kRegionFields + threadIdx.x];
  __syncthreads();
  const int32_t x = blockIdx.x * blockDim.x + threadIdx.x;
  if (x >= W) return;

  int32_t from = i, oy = 0, ox = 0;  // the sample's own image, under any painted region
  for (int r = 0; r < R; ++r) {
    const int32_t* f = plan + r * kRegionFields;
    if (y >= f[1] && y < f[3] && x >= f[2] && x < f[4]) {
      from = f[0];
      oy = f[5];
      ox = f[6];
    }
  }
  const bool fill = from < 0;
  const int64_t s = fill ? 0 : min(from, B - 1);
  const int64_t sy = min(max(y + oy, 0), H - 1), sx = min(max(x + ox, 0), W - 1);
  const uint8_t* px = images + ((s * H + sy) * W + sx) * 3;
  const int32_t partner_raw = blend_src[i];
  const bool blend = partner_raw >= 0;
  const int64_t partner = blend ? min(partner_raw, B - 1) : 0;
  const uint8_t* ppx = images + ((partner * H + y) * W + x) * 3;
  const float w = blend_weight[i];
  scalar_t* o = out + ((static_cast<int64_t>(i) * H + y) * W + x) * 3;
#pragma unroll
  for (int c = 0; c < 3; ++c) {
    float v = fill ? mean[c] : adjusted(px[c], coef_a[s * 3 + c], coef_b[s * 3 + c]);
    if (blend) {
      const float v2 = adjusted(ppx[c], coef_a[partner * 3 + c], coef_b[partner * 3 + c]);
      v = __fadd_rn(__fmul_rn(w, v), __fmul_rn(__fsub_rn(1.f, w), v2));
    }
    o[c] = static_cast<scalar_t>(__fdiv_rn(__fsub_rn(v, mean[c]), std[c]));
  }
}

at::Tensor mix_normalize_cuda(const at::Tensor& images, const at::Tensor& regions, const at::Tensor& blend_src,
                              const at::Tensor& blend_weight, const at::Tensor& sia_mask, const at::Tensor& sia_shift,
                              const at::Tensor& sia_stretch, const at::Tensor& mean, const at::Tensor& std,
                              at::ScalarType dtype) {
  check_mix_args(images, regions, blend_src, blend_weight, sia_mask, sia_shift, sia_stretch, mean, std, dtype);
  const int64_t B = images.size(0), H = images.size(1), W = images.size(2), R = regions.size(1);
  TORCH_CHECK(B <= 65535 && H <= 65535, "vipriors::mix_normalize: CUDA grid limits B and H to 65535, got ", images.sizes());
  const c10::cuda::CUDAGuard guard(images.device());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  at::Tensor out = empty_channels_last(images, dtype);
  at::Tensor coef = at::empty({2, B, 3}, images.options().dtype(at::kFloat));

  sia_coefficients_kernel<<<B, kStatsThreads, 0, stream>>>(
      images.data_ptr<uint8_t>(), H * W, sia_mask.data_ptr<bool>(), sia_shift.data_ptr<float>(),
      sia_stretch.data_ptr<float>(), coef[0].data_ptr<float>(), coef[1].data_ptr<float>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();

  const dim3 grid((W + kRowThreads - 1) / kRowThreads, H, B);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, dtype, "vipriors_mix_normalize_cuda", [&] {
    mix_normalize_kernel<scalar_t><<<grid, kRowThreads, 0, stream>>>(
        images.data_ptr<uint8_t>(), B, H, W, R, regions.data_ptr<int32_t>(), blend_src.data_ptr<int32_t>(),
        blend_weight.data_ptr<float>(), coef[0].data_ptr<float>(), coef[1].data_ptr<float>(), mean.data_ptr<float>(),
        std.data_ptr<float>(), out.data_ptr<scalar_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(vipriors, CUDA, m) { m.impl("mix_normalize", &mix_normalize_cuda); }

}  // namespace vipriors
