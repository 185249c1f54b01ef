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
}
