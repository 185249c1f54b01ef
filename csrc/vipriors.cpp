// The op schemas of the vipriors library, defined once; the kernels register their
// implementations per dispatch key in csrc/cpu/ and csrc/cuda/.
#include <Python.h>
#include <torch/library.h>

extern "C" {
// Importing vipriors._C only has to load this shared library: loading it runs the
// TORCH_LIBRARY registrations below, after which the ops live in torch.ops.vipriors.
PyObject* PyInit__C(void) {
  static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_C", nullptr, -1, nullptr};
  return PyModule_Create(&module_def);
}
}

TORCH_LIBRARY(vipriors, m) {
  // uint8 [B, H, W, 3] (NHWC, contiguous) -> (x - mean[c]) / std[c] as [B, 3, H, W]
  // in channels_last memory format, cast to `dtype` (float32, bfloat16 or float16).
  m.def("normalize(Tensor images, Tensor mean, Tensor std, ScalarType dtype) -> Tensor");

  // SIA's colour adjustment as an affine map per (image, channel), v = x * a + b, from each
  // masked image's exact channel statistics: returns float32 [2, B, 3] (a, then b), the
  // identity for images the mask leaves out. Called only when a stubborn set exists.
  //   sia_mask bool [B]; sia_shift float32 [B, 3] mean factor u; sia_stretch float32 [B, 3] contrast factor v
  m.def("sia_affine(Tensor images, Tensor sia_mask, Tensor sia_shift, Tensor sia_stretch) -> Tensor");

  // The fused training-input op: per output sample, paint up to R regions cut from other
  // images of the batch (CutMix, RICAP, Cutout) over the sample's own image, optionally
  // blend with a partner image (Mixup), adjust the colours of every source image by
  // sia_coef (SIA; none: unchanged), then normalise and cast, writing [B, 3, H, W] channels_last.
  //   regions      int32 [B, R, 7]: (src, y0, x0, y1, x1, oy, ox); output pixels in
  //                [y0, y1) x [x0, x1) read image `src` at (y + oy, x + ox); src = -1 fills
  //                with the mean colour; later regions paint over earlier ones.
  //   blend_src    int32 [B] partner image per sample, -1 for none
  //   blend_weight float32 [B] weight of the painted sample; the partner gets 1 - weight
  //   sia_coef     float32 [2, B, 3] from sia_affine, or None
  // The exact arithmetic is specified by vipriors.ops.mix_normalize_reference.
  m.def(
      "mix_normalize(Tensor images, Tensor regions, Tensor blend_src, Tensor blend_weight, Tensor? sia_coef, "
      "Tensor mean, Tensor std, ScalarType dtype) -> Tensor");
}
