// A DALI CPU operator, VipriorsResize: HWC uint8 images (any size) to one fixed size with
// torch's antialiased bilinear filter, the same as torch.nn.functional.interpolate(...,
// mode="bilinear", antialias=True), its reference in tests/test_dali_plugin.py; on the CPU
// about ten times cheaper than DALI's own resize.
#include <ATen/ATen.h>
#include <c10/util/ParallelGuard.h>

#include <vector>

#include "dali/pipeline/operator/operator.h"

namespace vipriors {

class VipriorsResize : public ::dali::Operator<::dali::CPUBackend> {
 public:
  explicit VipriorsResize(const ::dali::OpSpec &spec)
      : ::dali::Operator<::dali::CPUBackend>(spec),
        height_(spec.GetArgument<int>("height")),
        width_(spec.GetArgument<int>("width")) {
    DALI_ENFORCE(height_ > 0 && width_ > 0, "VipriorsResize: height and width must be positive");
  }

 protected:
  bool SetupImpl(std::vector<::dali::OutputDesc> &output_desc, const ::dali::Workspace &ws) override {
    const auto &input = ws.Input<::dali::CPUBackend>(0);
    DALI_ENFORCE(input.type() == DALI_UINT8, "VipriorsResize: the images must be uint8");
    DALI_ENFORCE(input.sample_dim() == 3, "VipriorsResize: the images must be HWC");
    const int n = input.num_samples();
    ::dali::TensorListShape<3> shape(n);
    for (int i = 0; i < n; i++) {
      auto in = input.tensor_shape(i);
      shape.set_tensor_shape(i, ::dali::TensorShape<3>{height_, width_, in[2]});
    }
    output_desc.resize(1);
    output_desc[0] = {shape, DALI_UINT8};
    return true;
  }

  void RunImpl(::dali::Workspace &ws) override {
    const auto &input = ws.Input<::dali::CPUBackend>(0);
    auto &output = ws.Output<::dali::CPUBackend>(0);
    output.SetLayout(input.GetLayout());
    auto &pool = ws.GetThreadPool();
    for (int i = 0; i < input.num_samples(); i++) {
      auto shape = input.tensor_shape(i);
      pool.AddWork([&, i, shape](int) {
        const int64_t h = shape[0], w = shape[1], c = shape[2];
        // An HWC buffer is an NCHW tensor in channels-last strides: torch's fast uint8 path.
        auto in = at::from_blob(const_cast<void *>(input.raw_tensor(i)), {1, c, h, w}, {h * w * c, 1, w * c, c},
                                at::TensorOptions().dtype(at::kByte));
        auto out = at::from_blob(output.raw_mutable_tensor(i), {1, c, height_, width_},
                                 {height_ * width_ * c, 1, width_ * c, c}, at::TensorOptions().dtype(at::kByte));
        c10::ParallelGuard serial(true);  // one image per DALI thread: no nested torch threads
        out.copy_(at::_upsample_bilinear2d_aa(in, {height_, width_}, /*align_corners=*/false));
      }, shape.num_elements());
    }
    pool.RunAll();
  }

 private:
  int64_t height_, width_;
};

}  // namespace vipriors

namespace dali {  // DALI's registration macros name its types unqualified

DALI_REGISTER_OPERATOR(VipriorsResize, ::vipriors::VipriorsResize, CPU);

DALI_SCHEMA(VipriorsResize)
    .DocStr("Resizes HWC uint8 images to height x width with torch's antialiased bilinear filter.")
    .NumInput(1)
    .NumOutput(1)
    .AddArg("height", "output height (px)", DALI_INT32)
    .AddArg("width", "output width (px)", DALI_INT32);

}  // namespace dali
