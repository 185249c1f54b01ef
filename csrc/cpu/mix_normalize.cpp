#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "../checks.h"

namespace vipriors {
namespace {

struct Layer {
  int32_t src, y0, x0, y1, x1, oy, ox;
};

// SIA as an affine map per (source image, channel): v = clamp(x * a + b, 0, 255) with
// a = stretch and b = mean * (shift - stretch), i.e. (x - m) * v + m * u. Sums are exact
// integers, so the statistics do not depend on the order of summation. (1, 0) is identity:
// images without SIA and constant channels (no statistics to shift) keep their values.
void sia_coefficients(const uint8_t* images, int64_t B, int64_t pixels, const bool* mask, const float* shift,
                      const float* stretch, float* a, float* b) {
  at::parallel_for(0, B, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      for (int c = 0; c < 3; ++c) {
        a[i * 3 + c] = 1.f;
        b[i * 3 + c] = 0.f;
      }
      if (!mask[i]) continue;
      int64_t sum[3] = {0, 0, 0};
      uint8_t lo[3] = {255, 255, 255}, hi[3] = {0, 0, 0};
      const uint8_t* p = images + i * pixels * 3;
      for (int64_t k = 0; k < pixels; ++k) {
        for (int c = 0; c < 3; ++c) {
          const uint8_t v = p[3 * k + c];
          sum[c] += v;
          lo[c] = std::min(lo[c], v);
          hi[c] = std::max(hi[c], v);
        }
      }
      for (int c = 0; c < 3; ++c) {
        if (lo[c] == hi[c]) continue;
        const double m = static_cast<double>(sum[c]) / static_cast<double>(pixels);
        const float u = shift[i * 3 + c], v = stretch[i * 3 + c];
        a[i * 3 + c] = v;
        b[i * 3 + c] = static_cast<float>(m * (static_cast<double>(u) - static_cast<double>(v)));
      }
    }
  });
}

at::Tensor mix_normalize_cpu(const at::Tensor& images, const at::Tensor& regions, const at::Tensor& blend_src,
                             const at::Tensor& blend_weight, const at::Tensor& sia_mask, const at::Tensor& sia_shift,
                             const at::Tensor& sia_stretch, const at::Tensor& mean, const at::Tensor& std,
                             at::ScalarType dtype) {
  check_mix_args(images, regions, blend_src, blend_weight, sia_mask, sia_shift, sia_stretch, mean, std, dtype);
  const int64_t B = images.size(0), H = images.size(1), W = images.size(2), R = regions.size(1);
  at::Tensor out = empty_channels_last(images, dtype);
  const uint8_t* src = images.data_ptr<uint8_t>();
  const float* m = mean.data_ptr<float>();
  const float* s = std.data_ptr<float>();

  std::vector<float> coef_a(B * 3), coef_b(B * 3);
  sia_coefficients(src, B, H * W, sia_mask.data_ptr<bool>(), sia_shift.data_ptr<float>(),
                   sia_stretch.data_ptr<float>(), coef_a.data(), coef_b.data());
  // A uint8 source has 256 values per channel: tabulate the colour-adjusted value of each,
  // per source image, so the pixel loop is table reads (and the blend where there is one).
  std::vector<float> value(B * 3 * 256);
  at::parallel_for(0, B * 3, 64, [&](int64_t begin, int64_t end) {
    for (int64_t ic = begin; ic < end; ++ic)
      for (int x = 0; x < 256; ++x)
        value[ic * 256 + x] = std::min(std::max(static_cast<float>(x) * coef_a[ic] + coef_b[ic], 0.f), 255.f);
  });
  const int32_t* plan = regions.data_ptr<int32_t>();
  const int32_t* partners = blend_src.data_ptr<int32_t>();
  const float* weights = blend_weight.data_ptr<float>();

  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, dtype, "vipriors_mix_normalize_cpu", [&] {
    std::vector<scalar_t> table(B * 3 * 256);
    at::parallel_for(0, B * 3 * 256, 4096, [&](int64_t begin, int64_t end) {
      for (int64_t k = begin; k < end; ++k) {
        const int c = static_cast<int>((k / 256) % 3);
        table[k] = static_cast<scalar_t>((value[k] - m[c]) / s[c]);
      }
    });
    scalar_t* dst = out.data_ptr<scalar_t>();

    at::parallel_for(0, B * H, 8, [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const int64_t i = row / H;
        const int32_t y = static_cast<int32_t>(row % H);
        // The layers covering this row, in paint order, on top of the sample's own image.
        Layer layers[kMaxRegions + 1];
        int n = 0;
        layers[n++] = {static_cast<int32_t>(i), 0, 0, static_cast<int32_t>(H), static_cast<int32_t>(W), 0, 0};
        for (int64_t r = 0; r < R; ++r) {
          const int32_t* f = plan + (i * R + r) * kRegionFields;
          Layer l{f[0], f[1], std::max(f[2], 0), f[3], std::min<int32_t>(f[4], static_cast<int32_t>(W)), f[5], f[6]};
          if (y >= l.y0 && y < l.y1 && l.x0 < l.x1) layers[n++] = l;
        }
        // Cut the row where any layer starts or ends; each piece shows its topmost layer.
        int32_t cuts[2 * (kMaxRegions + 1)];
        int nc = 0;
        for (int k = 0; k < n; ++k) {
          cuts[nc++] = layers[k].x0;
          cuts[nc++] = layers[k].x1;
        }
        std::sort(cuts, cuts + nc);
        nc = static_cast<int>(std::unique(cuts, cuts + nc) - cuts);

        const int32_t partner_raw = partners[i];
        const bool blend = partner_raw >= 0;
        const int64_t partner = blend ? std::min<int64_t>(partner_raw, B - 1) : i;
        const float w = weights[i], w_partner = 1.f - w;
        const uint8_t* partner_row = src + ((partner * H + y) * W) * 3;
        scalar_t* out_row = dst + row * W * 3;

        for (int k = 0; k + 1 < nc; ++k) {
          const int32_t xa = cuts[k], xb = cuts[k + 1];
          int top = 0;
          for (int l = n - 1; l > 0; --l)
            if (layers[l].x0 <= xa && xa < layers[l].x1) {
              top = l;
              break;
            }
          const Layer& L = layers[top];
          const bool fill = L.src < 0;
          const int64_t from = fill ? 0 : std::min<int64_t>(L.src, B - 1);
          const int64_t sy = std::min<int64_t>(std::max<int64_t>(y + L.oy, 0), H - 1);
          const uint8_t* src_row = src + ((from * H + sy) * W) * 3;
          const float* v_from = value.data() + from * 768;
          const float* v_partner = value.data() + partner * 768;
          const scalar_t* t_from = table.data() + from * 768;
          scalar_t* d = out_row + xa * 3;
          if (!blend && !fill && xa + L.ox >= 0 && xb + L.ox <= W) {
            // The common case, a straight run of one source row: three table reads per pixel.
            const uint8_t* p = src_row + (xa + L.ox) * 3;
            for (int32_t x = xa; x < xb; ++x, p += 3, d += 3) {
              d[0] = t_from[p[0]];
              d[1] = t_from[256 + p[1]];
              d[2] = t_from[512 + p[2]];
            }
            continue;
          }
          for (int32_t x = xa; x < xb; ++x, d += 3) {
            const int64_t sx = std::min<int64_t>(std::max<int64_t>(x + L.ox, 0), W - 1);
            const uint8_t* p = src_row + sx * 3;
            const uint8_t* q = partner_row + x * 3;
            for (int c = 0; c < 3; ++c) {
              if (!blend) {
                d[c] = fill ? static_cast<scalar_t>((m[c] - m[c]) / s[c]) : t_from[c * 256 + p[c]];
              } else {
                const float v1 = fill ? m[c] : v_from[c * 256 + p[c]];
                const float v2 = v_partner[c * 256 + q[c]];
                d[c] = static_cast<scalar_t>((w * v1 + w_partner * v2 - m[c]) / s[c]);
              }
            }
          }
        }
      }
    });
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(vipriors, CPU, m) { m.impl("mix_normalize", &mix_normalize_cpu); }

}  // namespace vipriors
