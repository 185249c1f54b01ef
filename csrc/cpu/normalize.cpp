#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include "../checks.h"
#include "../mix_semantics.h"

namespace vipriors {
namespace {

// A uint8 input has only 256 values per channel, so the whole affine map fits in a
// 3 x 256 table of outputs: the hot loop is one table read per byte.
at::Tensor normalize_cpu(const at::Tensor& images, const at::Tensor& mean, const at::Tensor& std, at::ScalarType dtype) {
  check_normalize_args(images, mean, std, dtype);
  at::Tensor out = empty_channels_last(images, dtype);
  const int64_t pixels = images.size(0) * images.size(1) * images.size(2);

  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, dtype, "vipriors_normalize_cpu", [&] {
    scalar_t table[3 * 256];
    const float* m = mean.data_ptr<float>();
    const float* s = std.data_ptr<float>();
    for (int c = 0; c < 3; ++c)
      for (int v = 0; v < 256; ++v) table[c * 256 + v] = static_cast<scalar_t>(normalized(static_cast<float>(v), m[c], s[c]));
    const uint8_t* src = images.data_ptr<uint8_t>();
    scalar_t* dst = out.data_ptr<scalar_t>();
    at::parallel_for(0, pixels, 16384, [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        const uint8_t* b = src + 3 * p;
        scalar_t* d = dst + 3 * p;
        d[0] = table[b[0]];
        d[1] = table[256 + b[1]];
        d[2] = table[512 + b[2]];
      }
    });
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(vipriors, CPU, m) { m.impl("normalize", &normalize_cpu); }

}  // namespace vipriors
