// The CUDA kernels' per-thread work, as C10_HOST_DEVICE functions: the .cu files only
// launch them, and tests/kernel_driver.cpp runs the very same functions on the CPU over
// every thread index of the launch, so the CPU test suite checks the code a GPU runs,
// its indexing and vector paths included. Only the block reduction of the SIA statistics
// and the launch itself are left to a GPU.
//
// Work is cut into groups of 4 pixels (12 bytes of NHWC uint8 in; 12 values of the
// channels_last output, whose element order is the input's): a thread takes groups
// thread, thread + threads, ... (a grid-stride loop), reads a group's bytes as three
// aligned 32-bit words where they are contiguous and aligned, and writes its 12 outputs
// as whole vectors (3 x 16 bytes for float32, 3 x 8 bytes for bf16/fp16).
#pragma once
#include <c10/macros/Macros.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "mix_semantics.h"

namespace vipriors {

constexpr int kGroupPixels = 4;
constexpr int kGroupValues = 3 * kGroupPixels;
constexpr int64_t kThreadsPerBlock = 256;

// The launch shape of the grid-stride kernels (host side): enough blocks for every group,
// at most a few waves of `multiprocessors`.
struct Launch {
  int64_t blocks, threads;
};

inline Launch grid_stride_launch(int64_t groups, int64_t multiprocessors) {
  const int64_t wanted = std::max<int64_t>(1, (groups + kThreadsPerBlock - 1) / kThreadsPerBlock);
  return {std::min<int64_t>(wanted, std::max<int64_t>(1, multiprocessors) * 8), kThreadsPerBlock};
}

// ---------------------------------------------------------------- load/store shims

C10_HOST_DEVICE inline bool aligned(const void* p, int bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

// 12 bytes from p: three 32-bit loads (through the read-only cache on a GPU) when p is
// 4-byte aligned, byte loads otherwise.
C10_HOST_DEVICE inline void load12(const uint8_t* p, uint8_t out[kGroupValues]) {
  if (aligned(p, 4)) {
    for (int w = 0; w < 3; ++w) {
#ifdef __CUDA_ARCH__
      const uint32_t word = __ldg(reinterpret_cast<const unsigned int*>(p) + w);
#else
      uint32_t word;
      std::memcpy(&word, p + 4 * w, 4);
#endif
      for (int k = 0; k < 4; ++k) out[4 * w + k] = static_cast<uint8_t>(word >> (8 * k));  // little-endian
    }
  } else {
    for (int k = 0; k < kGroupValues; ++k) out[k] = p[k];
  }
}

// One value through the read-only cache on a GPU (uint8_t, int32_t or float).
template <typename T>
C10_HOST_DEVICE inline T load_ro(const T* p) {
#ifdef __CUDA_ARCH__
  return __ldg(p);
#else
  return *p;
#endif
}

// The first n values of v to dst; a whole group (n = 12) as three vector stores when dst
// is aligned for them (it always is in a fresh output: group g starts at byte 12 g x size).
template <typename scalar_t>
C10_HOST_DEVICE inline void store_group(scalar_t* dst, const scalar_t* v, int n) {
  constexpr int kVectorBytes = sizeof(scalar_t) == 4 ? 16 : 8;
  if (n == kGroupValues && aligned(dst, kVectorBytes)) {
#ifdef __CUDA_ARCH__
    if constexpr (kVectorBytes == 16) {
      for (int k = 0; k < 3; ++k) reinterpret_cast<float4*>(dst)[k] = reinterpret_cast<const float4*>(v)[k];
    } else {
      for (int k = 0; k < 3; ++k) reinterpret_cast<uint2*>(dst)[k] = reinterpret_cast<const uint2*>(v)[k];
    }
#else
    std::memcpy(dst, v, kGroupValues * sizeof(scalar_t));
#endif
    return;
  }
  for (int k = 0; k < n; ++k) dst[k] = v[k];
}

// ---------------------------------------------------------------- mix_normalize

template <typename scalar_t>
struct MixArgs {
  const uint8_t* images;
  scalar_t* out;
  int64_t B, H, W;
  int R;
  const int32_t* regions;       // [B, R, 7]
  const int32_t* blend_src;     // [B]
  const float* blend_weight;    // [B]
  const float* coef;            // [2, B, 3]: SIA's a, then b; nullptr: the identity
  const float* mean;            // [3]
  const float* std;             // [3]
};

template <typename scalar_t>
C10_HOST_DEVICE inline float mix_source_value(const MixArgs<scalar_t>& a, int64_t image, int64_t y, int64_t x, int c) {
  const uint8_t byte = load_ro(a.images + ((image * a.H + y) * a.W + x) * 3 + c);
  if (a.coef == nullptr) return adjusted(byte, 1.f, 0.f);
  return adjusted(byte, load_ro(a.coef + image * 3 + c), load_ro(a.coef + (a.B + image) * 3 + c));
}

// Group g: output pixels 4g .. 4g + 3 of the flattened [B, H, W] (fewer at the very end).
template <typename scalar_t>
C10_HOST_DEVICE inline void mix_normalize_group(const MixArgs<scalar_t>& a, int64_t g) {
  const int64_t plane = a.H * a.W, first = g * kGroupPixels;
  const int n = static_cast<int>(std::min<int64_t>(kGroupPixels, a.B * plane - first));
  int64_t i = first / plane, y = (first % plane) / a.W, x = first % a.W;
  Source sources[kGroupPixels];
  int64_t sample[kGroupPixels], row[kGroupPixels], col[kGroupPixels];
  for (int k = 0; k < n; ++k) {
    sample[k] = i, row[k] = y, col[k] = x;
    sources[k] = source_of(a.regions + i * a.R * kRegionFields, a.R, i, a.B, a.H, a.W, y, x);
    if (++x == a.W) {
      x = 0;
      if (++y == a.H) y = 0, ++i;
    }
  }
  alignas(16) scalar_t out[kGroupValues];
  float m[3], s[3];
  for (int c = 0; c < 3; ++c) m[c] = load_ro(a.mean + c), s[c] = load_ro(a.std + c);
  // The common case: one sample, no blend, four pixels of one source row side by side.
  bool run = n == kGroupPixels && sample[3] == sample[0] && load_ro(a.blend_src + sample[0]) < 0;
  for (int k = 0; run && k < kGroupPixels; ++k)
    run = !sources[k].fill && sources[k].image == sources[0].image && sources[k].y == sources[0].y &&
          sources[k].x == sources[0].x + k;
  if (run) {
    uint8_t bytes[kGroupValues];
    load12(a.images + ((sources[0].image * a.H + sources[0].y) * a.W + sources[0].x) * 3, bytes);
    const int64_t from = sources[0].image;
    for (int k = 0; k < kGroupValues; ++k) {
      const int c = k % 3;
      const float v = a.coef == nullptr ? adjusted(bytes[k], 1.f, 0.f)
                                        : adjusted(bytes[k], load_ro(a.coef + from * 3 + c),
                                                   load_ro(a.coef + (a.B + from) * 3 + c));
      out[k] = static_cast<scalar_t>(normalized(v, m[c], s[c]));
    }
  } else {
    for (int k = 0; k < n; ++k) {
      const int32_t partner_raw = load_ro(a.blend_src + sample[k]);
      const int64_t partner = clamp_index(partner_raw, a.B - 1);
      const float w = load_ro(a.blend_weight + sample[k]);
      for (int c = 0; c < 3; ++c) {
        const Source& src = sources[k];
        float v = src.fill ? m[c] : mix_source_value(a, src.image, src.y, src.x, c);
        if (partner_raw >= 0) v = blended(w, v, mix_source_value(a, partner, row[k], col[k], c));
        out[3 * k + c] = static_cast<scalar_t>(normalized(v, m[c], s[c]));
      }
    }
  }
  store_group(a.out + first * 3, out, 3 * n);
}

// Thread `thread` of `threads` in the whole launch: a grid-stride loop over the groups.
template <typename scalar_t>
C10_HOST_DEVICE inline void mix_normalize_thread(const MixArgs<scalar_t>& a, int64_t thread, int64_t threads) {
  const int64_t groups = (a.B * a.H * a.W + kGroupPixels - 1) / kGroupPixels;
  for (int64_t g = thread; g < groups; g += threads) mix_normalize_group(a, g);
}

// ---------------------------------------------------------------- SIA statistics

// Thread `thread` of `threads` on one image of `pixels` pixels: its share of the channel
// statistics, four pixels (three words) at a time; the last pixels % 4 go to thread 0.
C10_HOST_DEVICE inline ChannelStats sia_partial(const uint8_t* image, int64_t pixels, int64_t thread, int64_t threads) {
  ChannelStats stats;
  stats.clear();
  const int64_t groups = pixels / kGroupPixels;
  for (int64_t q = thread; q < groups; q += threads) {
    uint8_t bytes[kGroupValues];
    load12(image + q * kGroupValues, bytes);
    for (int k = 0; k < kGroupValues; ++k) stats.add(k % 3, bytes[k]);
  }
  if (thread == 0)
    for (int64_t k = groups * kGroupValues; k < pixels * 3; ++k) stats.add(static_cast<int>(k % 3), load_ro(image + k));
  return stats;
}

// The coefficients of image i from its whole statistics: SIA's affine map where the mask
// asks for it, the identity elsewhere. coef is [2, B, 3] (a, then b).
C10_HOST_DEVICE inline void sia_write(const ChannelStats& stats, int64_t i, int64_t B, int64_t pixels, bool masked,
                                      const float* shift, const float* stretch, float* coef) {
  for (int c = 0; c < 3; ++c) {
    const Affine f = masked ? sia_affine(stats.sum[c], stats.lo[c], stats.hi[c], pixels, load_ro(shift + i * 3 + c),
                                         load_ro(stretch + i * 3 + c))
                            : Affine{1.f, 0.f};
    coef[i * 3 + c] = f.a;
    coef[(B + i) * 3 + c] = f.b;
  }
}

// ---------------------------------------------------------------- normalize

template <typename scalar_t>
C10_HOST_DEVICE inline void normalize_thread(const uint8_t* src, scalar_t* dst, int64_t pixels, const float* mean,
                                             const float* std, int64_t thread, int64_t threads) {
  float m[3], s[3];
  for (int c = 0; c < 3; ++c) m[c] = load_ro(mean + c), s[c] = load_ro(std + c);
  const int64_t groups = (pixels + kGroupPixels - 1) / kGroupPixels;
  for (int64_t g = thread; g < groups; g += threads) {
    const int n = static_cast<int>(std::min<int64_t>(kGroupPixels, pixels - g * kGroupPixels)) * 3;
    uint8_t bytes[kGroupValues];
    if (n == kGroupValues) {
      load12(src + g * kGroupValues, bytes);
    } else {
      for (int k = 0; k < n; ++k) bytes[k] = load_ro(src + g * kGroupValues + k);
    }
    alignas(16) scalar_t out[kGroupValues];
    for (int k = 0; k < n; ++k) out[k] = static_cast<scalar_t>(normalized(static_cast<float>(bytes[k]), m[k % 3], s[k % 3]));
    store_group(dst + g * kGroupValues, out, n);
  }
}

}  // namespace vipriors
