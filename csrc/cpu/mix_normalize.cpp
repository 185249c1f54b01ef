#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <optional>
#include <vector>

#include "../checks.h"
#include "../kernel_bodies.h"

namespace vipriors {
namespace {

// Every image's statistics in one pass (one image per task), then its coefficients.
at::Tensor sia_affine_cpu(const at::Tensor& images, const at::Tensor& sia_mask, const at::Tensor& sia_shift,
                          const at::Tensor& sia_stretch) {
  check_sia_args(images, sia_mask, sia_shift, sia_stretch);
  const int64_t B = images.size(0), pixels = images.size(1) * images.size(2);
  at::Tensor coef = at::empty({2, B, 3}, images.options().dtype(at::kFloat));
  const uint8_t* src = images.data_ptr<uint8_t>();
  const bool* mask = sia_mask.data_ptr<bool>();
  at::parallel_for(0, B, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      ChannelStats stats;
      stats.clear();
      if (mask[i]) stats = sia_partial(src + i * pixels * 3, pixels, 0, 1);
      sia_write(stats, i, B, pixels, mask[i], sia_shift.data_ptr<float>(), sia_stretch.data_ptr<float>(),
                coef.data_ptr<float>());
    }
  });
  return coef;
}

at::Tensor mix_normalize_cpu(const at::Tensor& images, const at::Tensor& regions, const at::Tensor& blend_src,
                             const at::Tensor& blend_weight, const std::optional<at::Tensor>& sia_coef,
                             const at::Tensor& mean, const at::Tensor& std, at::ScalarType dtype) {
  check_mix_args(images, regions, blend_src, blend_weight, sia_coef, mean, std, dtype);
  const int64_t B = images.size(0), H = images.size(1), W = images.size(2);
  const int R = static_cast<int>(regions.size(1));
  at::Tensor out = empty_channels_last(images, dtype);
  const uint8_t* src = images.data_ptr<uint8_t>();
  const float* m = mean.data_ptr<float>();
  const float* s = std.data_ptr<float>();
  const float* coef = sia_coef.has_value() ? sia_coef->data_ptr<float>() : nullptr;

  // A uint8 source has 256 values per channel: tabulate the colour-adjusted value of each,
  // per source image, so the pixel loop is table reads (and the blend where there is one).
  std::vector<float> value(B * 3 * 256);
  at::parallel_for(0, B * 3, 64, [&](int64_t begin, int64_t end) {
    for (int64_t ic = begin; ic < end; ++ic) {
      const float a = coef ? coef[ic] : 1.f, b = coef ? coef[B * 3 + ic] : 0.f;
      for (int x = 0; x < 256; ++x) value[ic * 256 + x] = adjusted(static_cast<uint8_t>(x), a, b);
    }
  });
  const int32_t* plan = regions.data_ptr<int32_t>();
  const int32_t* partners = blend_src.data_ptr<int32_t>();
  const float* weights = blend_weight.data_ptr<float>();

  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, dtype, "vipriors_mix_normalize_cpu", [&] {
    std::vector<scalar_t> table(B * 3 * 256);
    at::parallel_for(0, B * 3 * 256, 4096, [&](int64_t begin, int64_t end) {
      for (int64_t k = begin; k < end; ++k) {
        const int c = static_cast<int>((k / 256) % 3);
        table[k] = static_cast<scalar_t>(normalized(value[k], m[c], s[c]));
      }
    });
    scalar_t* dst = out.data_ptr<scalar_t>();

    at::parallel_for(0, B * H, 8, [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const int64_t i = row / H, y = row % H;
        const int32_t* sample_plan = plan + i * R * kRegionFields;
        // Cut the row where any region covering it starts or ends: within a piece the pixels
        // all show one layer (source_of says which), read from one source row.
        int64_t cuts[2 * kMaxRegions + 2];
        int nc = 0;
        cuts[nc++] = 0;
        cuts[nc++] = W;
        for (int r = 0; r < R; ++r) {
          const int32_t* f = sample_plan + r * kRegionFields;
          if (y < f[1] || y >= f[3]) continue;
          cuts[nc++] = clamp_index(f[2], W);
          cuts[nc++] = clamp_index(f[4], W);
        }
        std::sort(cuts, cuts + nc);
        nc = static_cast<int>(std::unique(cuts, cuts + nc) - cuts);

        const int32_t partner_raw = partners[i];
        const int64_t partner = clamp_index(partner_raw, B - 1);
        const float w = weights[i];
        scalar_t* out_row = dst + row * W * 3;
        for (int k = 0; k + 1 < nc; ++k) {
          const int64_t xa = cuts[k], xb = cuts[k + 1];
          const Source first = source_of(sample_plan, R, i, B, H, W, y, xa);
          const Source last = source_of(sample_plan, R, i, B, H, W, y, xb - 1);
          // A fill, or one source row read left to right without clamping: then pixel x
          // shows the source pixel first.x + (x - xa).
          const bool straight = first.fill || (last.image == first.image && last.y == first.y &&
                                               last.x - first.x == xb - 1 - xa);
          if (partner_raw < 0 && straight && !first.fill) {
            // The common case, a straight run of one source row: three table reads per pixel.
            const scalar_t* t = table.data() + first.image * 768;
            const uint8_t* p = src + ((first.image * H + first.y) * W + first.x) * 3;
            scalar_t* d = out_row + xa * 3;
            for (int64_t x = xa; x < xb; ++x, p += 3, d += 3) {
              d[0] = t[p[0]];
              d[1] = t[256 + p[1]];
              d[2] = t[512 + p[2]];
            }
            continue;
          }
          // One output pixel from its source (a fill, or image `from` at p) and its partner at q.
          const float* v_partner = value.data() + partner * 768;
          const auto pixel = [&](int64_t x, bool fill, int64_t from, const uint8_t* p, const uint8_t* q) {
            const float* v_from = value.data() + from * 768;
            for (int c = 0; c < 3; ++c) {
              float v = fill ? m[c] : v_from[c * 256 + p[c]];
              if (partner_raw >= 0) v = blended(w, v, v_partner[c * 256 + q[c]]);
              out_row[x * 3 + c] = static_cast<scalar_t>(normalized(v, m[c], s[c]));
            }
          };
          const uint8_t* q = src + ((partner * H + y) * W + xa) * 3;
          if (straight) {
            const uint8_t* p = src + ((first.image * H + first.y) * W + first.x) * 3;
            for (int64_t x = xa; x < xb; ++x, q += 3, p += first.fill ? 0 : 3) pixel(x, first.fill, first.image, p, q);
            continue;
          }
          for (int64_t x = xa; x < xb; ++x, q += 3) {
            const Source at = source_of(sample_plan, R, i, B, H, W, y, x);
            pixel(x, at.fill, at.image, src + ((at.image * H + at.y) * W + at.x) * 3, q);
          }
        }
      }
    });
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(vipriors, CPU, m) {
  m.impl("sia_affine", &sia_affine_cpu);
  m.impl("mix_normalize", &mix_normalize_cpu);
}

}  // namespace vipriors
