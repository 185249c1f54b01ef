// Runs the CUDA kernels' per-thread bodies (csrc/kernel_bodies.h) on the CPU, thread by
// thread over the whole launch a GPU would get, so that tests/test_kernel_bodies.py can
// hold them to the pure-PyTorch references bit for bit without a GPU.
#include <torch/extension.h>

#include <optional>
#include <vector>

#include "kernel_bodies.h"

using namespace vipriors;

void mix_normalize_body(at::Tensor out, const at::Tensor& images, const at::Tensor& regions, const at::Tensor& blend_src,
                        const at::Tensor& blend_weight, const std::optional<at::Tensor>& coef, const at::Tensor& mean,
                        const at::Tensor& std, int64_t multiprocessors) {
  const int64_t B = images.size(0), H = images.size(1), W = images.size(2);
  const Launch launch = grid_stride_launch((B * H * W + kGroupPixels - 1) / kGroupPixels, multiprocessors);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, out.scalar_type(), "mix_normalize_body", [&] {
    const MixArgs<scalar_t> args{images.data_ptr<uint8_t>(), out.data_ptr<scalar_t>(), B, H, W,
                                 static_cast<int>(regions.size(1)), regions.data_ptr<int32_t>(),
                                 blend_src.data_ptr<int32_t>(), blend_weight.data_ptr<float>(),
                                 coef.has_value() ? coef->data_ptr<float>() : nullptr, mean.data_ptr<float>(),
                                 std.data_ptr<float>()};
    const int64_t threads = launch.blocks * launch.threads;
    for (int64_t t = 0; t < threads; ++t) mix_normalize_thread(args, t, threads);
  });
}

// One "block" of `threads` per image; the partial statistics are merged pairwise, as a
// tree reduction would.
at::Tensor sia_affine_body(const at::Tensor& images, const at::Tensor& mask, const at::Tensor& shift,
                           const at::Tensor& stretch, int64_t threads) {
  const int64_t B = images.size(0), pixels = images.size(1) * images.size(2);
  at::Tensor coef = at::empty({2, B, 3}, images.options().dtype(at::kFloat));
  for (int64_t i = 0; i < B; ++i) {
    std::vector<ChannelStats> partial(threads);
    for (int64_t t = 0; t < threads; ++t) {
      partial[t].clear();
      if (mask.data_ptr<bool>()[i]) partial[t] = sia_partial(images.data_ptr<uint8_t>() + i * pixels * 3, pixels, t, threads);
    }
    for (int64_t step = 1; step < threads; step *= 2)
      for (int64_t t = 0; t + step < threads; t += 2 * step) partial[t].merge(partial[t + step]);
    sia_write(partial[0], i, B, pixels, mask.data_ptr<bool>()[i], shift.data_ptr<float>(), stretch.data_ptr<float>(),
              coef.data_ptr<float>());
  }
  return coef;
}

void normalize_body(at::Tensor out, const at::Tensor& images, const at::Tensor& mean, const at::Tensor& std,
                    int64_t multiprocessors) {
  const int64_t pixels = images.size(0) * images.size(1) * images.size(2);
  const Launch launch = grid_stride_launch((pixels + kGroupPixels - 1) / kGroupPixels, multiprocessors);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, out.scalar_type(), "normalize_body", [&] {
    const int64_t threads = launch.blocks * launch.threads;
    for (int64_t t = 0; t < threads; ++t)
      normalize_thread(images.data_ptr<uint8_t>(), out.data_ptr<scalar_t>(), pixels, mean.data_ptr<float>(),
                       std.data_ptr<float>(), t, threads);
  });
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("mix_normalize_body", &mix_normalize_body);
  m.def("sia_affine_body", &sia_affine_body);
  m.def("normalize_body", &normalize_body);
  m.def("launch_threads", [](int64_t groups, int64_t multiprocessors) {
    const Launch launch = grid_stride_launch(groups, multiprocessors);
    return launch.blocks * launch.threads;
  });
}
