// What the fused ops compute, stated once for both devices: every function here is
// C10_HOST_DEVICE, the CPU kernels (csrc/cpu) call them, and so do the CUDA kernels, whose
// per-thread bodies (csrc/kernel_bodies.h) only the .cu files launch. The arithmetic is
// the reference's (vipriors/ops.py), in its order: float32 operations, each rounded once.
// Both compilers are told not to fuse a multiply and an add (-ffp-contract=off for the
// C++, --fmad=false for nvcc), so the same expression rounds the same on both.
#pragma once
#include <c10/macros/Macros.h>

#include <cstdint>

namespace vipriors {

constexpr int kMaxRegions = 4;
constexpr int kRegionFields = 7;  // src, y0, x0, y1, x1, oy, ox

C10_HOST_DEVICE inline int64_t clamp_index(int64_t v, int64_t hi) { return v < 0 ? 0 : (v > hi ? hi : v); }

// The pixel an output pixel (y, x) of sample i shows. The sample's own image, unless regions
// cover the pixel: then the last of them ("later regions paint over earlier ones"), read
// at (y + oy, x + ox) of image src, coordinates clamped into the image and src into the
// batch; src < 0 is a fill with the mean colour.
struct Source {
  int64_t image;
  int64_t y, x;
  bool fill;
};

C10_HOST_DEVICE inline Source source_of(const int32_t* plan, int R, int64_t i, int64_t B, int64_t H, int64_t W,
                                        int64_t y, int64_t x) {
  const int32_t* top = nullptr;
  for (int r = 0; r < R; ++r) {
    const int32_t* f = plan + r * kRegionFields;
    if (y >= f[1] && y < f[3] && x >= f[2] && x < f[4]) top = f;
  }
  if (top == nullptr) return {i, y, x, false};
  if (top[0] < 0) return {0, 0, 0, true};
  return {clamp_index(top[0], B - 1), clamp_index(y + top[5], H - 1), clamp_index(x + top[6], W - 1), false};
}

// SIA's colour adjustment of a source byte: v = clamp(x * a + b, 0, 255).
C10_HOST_DEVICE inline float adjusted(uint8_t x, float a, float b) {
  const float v = static_cast<float>(x) * a + b;
  return v < 0.f ? 0.f : (v > 255.f ? 255.f : v);
}

// Mixup: the painted value weighs w, the partner's 1 - w.
C10_HOST_DEVICE inline float blended(float w, float painted, float partner) { return w * painted + (1.f - w) * partner; }

C10_HOST_DEVICE inline float normalized(float v, float mean, float std) { return (v - mean) / std; }

// SIA as an affine map per (source image, channel), v = x * a + b, from the channel's exact
// integer sum and its range: the mean m moves to m * shift and the spread is multiplied by
// stretch, so a = stretch and b = m * (shift - stretch) (in float64, then rounded to
// float32). A constant channel (lo == hi: no spread to stretch) keeps the identity.
struct Affine {
  float a, b;
};

C10_HOST_DEVICE inline Affine sia_affine(int64_t sum, uint32_t lo, uint32_t hi, int64_t pixels, float shift,
                                        float stretch) {
  if (lo == hi) return {1.f, 0.f};
  const double mean = static_cast<double>(sum) / static_cast<double>(pixels);
  return {stretch, static_cast<float>(mean * (static_cast<double>(shift) - static_cast<double>(stretch)))};
}

// Per-channel statistics SIA needs, accumulated over any subset of an image's pixels and
// combined in any order (sums of integers, minima, maxima): exact whatever the reduction.
struct ChannelStats {
  int64_t sum[3];
  uint32_t lo[3], hi[3];

  C10_HOST_DEVICE void clear() {
    for (int c = 0; c < 3; ++c) {
      sum[c] = 0;
      lo[c] = 255;
      hi[c] = 0;
    }
  }
  C10_HOST_DEVICE void add(int c, uint32_t v) {
    sum[c] += v;
    lo[c] = v < lo[c] ? v : lo[c];
    hi[c] = v > hi[c] ? v : hi[c];
  }
  C10_HOST_DEVICE void merge(const ChannelStats& o) {
    for (int c = 0; c < 3; ++c) {
      sum[c] += o.sum[c];
      lo[c] = o.lo[c] < lo[c] ? o.lo[c] : lo[c];
      hi[c] = o.hi[c] > hi[c] ? o.hi[c] : hi[c];
    }
  }
};

}  // namespace vipriors
