// Argument checks shared by the CPU and CUDA kernels: the one place that states what the
// ops accept and words the errors (vipriors/ops.py's fake implementations only state the
// output's shape and dtype).
#pragma once
#include <ATen/ATen.h>

#include <optional>

#include "mix_semantics.h"

namespace vipriors {

inline void check_images_nhwc(const at::Tensor& images, const char* op) {
  TORCH_CHECK(images.scalar_type() == at::kByte, op, ": images must be uint8 (as decoded), got ",
              images.scalar_type(), "; pass the pipeline's output before any float conversion");
  TORCH_CHECK(images.dim() == 4, op, ": images must be [B, H, W, 3] (NHWC), got shape ", images.sizes());
  TORCH_CHECK(images.size(3) == 3, op, ": images must have 3 channels last ([B, H, W, 3]), got shape ",
              images.sizes(), "; a [B, 3, H, W] batch must be permuted to NHWC first");
  TORCH_CHECK(images.size(0) > 0, op, ": empty batch (B = 0)");
  TORCH_CHECK(images.size(1) > 0 && images.size(2) > 0, op, ": images have zero height or width: ", images.sizes());
  TORCH_CHECK(images.is_contiguous(), op, ": images must be contiguous NHWC; call .contiguous() on the [B, H, W, 3] tensor");
}

inline void check_channel_vector(const at::Tensor& v, const at::Tensor& images, const char* name, const char* op) {
  TORCH_CHECK(v.scalar_type() == at::kFloat, op, ": ", name, " must be float32, got ", v.scalar_type());
  TORCH_CHECK(v.dim() == 1 && v.size(0) == 3, op, ": ", name, " must have shape [3] (one value per RGB channel, in 0..255 units), got ",
              v.sizes());
  TORCH_CHECK(v.device() == images.device(), op, ": ", name, " is on ", v.device(), " but images are on ", images.device(),
              "; move it with .to(images.device)");
  TORCH_CHECK(v.is_contiguous(), op, ": ", name, " must be contiguous");
}

inline void check_output_dtype(at::ScalarType dtype, const char* op) {
  TORCH_CHECK(dtype == at::kFloat || dtype == at::kBFloat16 || dtype == at::kHalf, op,
              ": output dtype must be float32, bfloat16 or float16, got ", dtype);
}

inline void check_normalize_args(const at::Tensor& images, const at::Tensor& mean, const at::Tensor& std,
                                 at::ScalarType dtype) {
  const char* op = "vipriors::normalize";
  check_images_nhwc(images, op);
  check_channel_vector(mean, images, "mean", op);
  check_channel_vector(std, images, "std", op);
  check_output_dtype(dtype, op);
}

// A plan tensor's dtype, device and layout (its shape is checked by the caller).
inline void check_plan_tensor(const at::Tensor& t, const at::Tensor& images, const char* name, at::ScalarType dtype,
                              const char* op) {
  TORCH_CHECK(t.scalar_type() == dtype, op, ": ", name, " must be ", dtype, ", got ", t.scalar_type());
  TORCH_CHECK(t.device() == images.device(), op, ": ", name, " is on ", t.device(), " but images are on ", images.device(),
              "; draw the plan on the images' device");
  TORCH_CHECK(t.is_contiguous(), op, ": ", name, " must be contiguous");
}

inline void check_per_sample(const at::Tensor& t, const at::Tensor& images, const char* name, at::ScalarType dtype,
                             at::IntArrayRef shape, const char* op) {
  TORCH_CHECK(t.sizes() == shape, op, ": ", name, " must have shape ", shape, " (B = ", images.size(0), "), got ", t.sizes());
  check_plan_tensor(t, images, name, dtype, op);
}

inline void check_sia_args(const at::Tensor& images, const at::Tensor& sia_mask, const at::Tensor& sia_shift,
                           const at::Tensor& sia_stretch) {
  const char* op = "vipriors::sia_affine";
  check_images_nhwc(images, op);
  const int64_t B = images.size(0);
  check_per_sample(sia_mask, images, "sia_mask", at::kBool, {B}, op);
  check_per_sample(sia_shift, images, "sia_shift", at::kFloat, {B, 3}, op);
  check_per_sample(sia_stretch, images, "sia_stretch", at::kFloat, {B, 3}, op);
}

inline void check_mix_args(const at::Tensor& images, const at::Tensor& regions, const at::Tensor& blend_src,
                           const at::Tensor& blend_weight, const std::optional<at::Tensor>& sia_coef,
                           const at::Tensor& mean, const at::Tensor& std, at::ScalarType dtype) {
  const char* op = "vipriors::mix_normalize";
  check_images_nhwc(images, op);
  const int64_t B = images.size(0);
  TORCH_CHECK(regions.dim() == 3 && regions.size(0) == B && regions.size(1) >= 1 && regions.size(1) <= kMaxRegions &&
                  regions.size(2) == kRegionFields,
              op, ": regions must be [B, R, 7] with 1 <= R <= 4 (src, y0, x0, y1, x1, oy, ox), got ", regions.sizes());
  check_plan_tensor(regions, images, "regions", at::kInt, op);
  check_per_sample(blend_src, images, "blend_src", at::kInt, {B}, op);
  check_per_sample(blend_weight, images, "blend_weight", at::kFloat, {B}, op);
  if (sia_coef.has_value()) check_per_sample(*sia_coef, images, "sia_coef", at::kFloat, {2, B, 3}, op);
  check_channel_vector(mean, images, "mean", op);
  check_channel_vector(std, images, "std", op);
  check_output_dtype(dtype, op);
}

inline at::Tensor empty_channels_last(const at::Tensor& images, at::ScalarType dtype) {
  return at::empty({images.size(0), 3, images.size(1), images.size(2)},
                   images.options().dtype(dtype).memory_format(at::MemoryFormat::ChannelsLast));
}

}  // namespace vipriors
