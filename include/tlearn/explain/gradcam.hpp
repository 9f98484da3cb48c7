#pragma once
/// \file
/// Grad-CAM (Selvaraju et al. 2017): where in the image the evidence for a class
/// sits. The activation A of a convolutional layer is recorded by a tap during an
/// ordinary forward pass; the gradient of the class score with respect to A,
/// averaged over space, weighs A's channels; the ReLU of the weighted sum, scaled
/// to 0..1 and upsampled (bilinear) to the input size, is the heatmap.
///
///     auto cam = tlearn::explain::grad_cam(*vgg, vgg->preprocess(x));          // top class, last stage
///     tlearn::explain::save_overlay("cam.png", x, cam.heatmap);                // jet over the photo
///
///     // A Classifier (backbone + head), class 1, at a chosen layer:
///     auto cam1 = tlearn::explain::grad_cam(classifier, input,
///                                           tlearn::explain::GradCamOptions().layer("block4_conv3").class_index(1));
///     // Any other module that runs the backbone: name the backbone for the layer table.
///     auto cam2 = tlearn::explain::grad_cam(my_model, *base, input);

#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <sstream>
#include <string>
#include <utility>

#include "tlearn/core/error.hpp"
#include "tlearn/core/eval_guard.hpp"
#include "tlearn/core/tap.hpp"
#include "tlearn/core/tensor_options.hpp"
#include "tlearn/detail/resample.hpp"
#include "tlearn/explain/colormap.hpp"
#include "tlearn/heads/head.hpp"
#include "tlearn/io/image.hpp"
#include "tlearn/models/backbone.hpp"

namespace tlearn::explain {

struct GradCamOptions {
  /// The layer whose activation is weighed (name or Keras alias). Empty: the last
  /// stage of the backbone, feature_info().back().name.
  TORCH_ARG(std::string, layer) = "";
  /// The class whose score is explained; negative: the top-scoring class.
  TORCH_ARG(int64_t, class_index) = -1;
};

struct GradCam {
  torch::Tensor heatmap;  ///< (H, W) in 0..1 at the input's size
  torch::Tensor cam;      ///< (h, w) at the layer's size: ReLU(sum_k w_k A_k), not rescaled
  torch::Tensor weights;  ///< (C): the spatial mean of d score / d A per channel
  int64_t class_index = 0;
  double score = 0;   ///< the model output explained (a logit or probability)
  std::string layer;  ///< the layer as the caller named it (a Keras alias stays one)
};

/// Any forward function: input batch to outputs (N, classes).
using ForwardFn = std::function<torch::Tensor(const torch::Tensor&)>;

namespace detail {
inline torch::Tensor as_single_batch(const torch::Tensor& image, const char* what) {
  auto x = image.dim() == 3 ? image.unsqueeze(0) : image;
  if (x.dim() != 4 || x.size(0) != 1) {
    std::ostringstream msg;
    msg << what << ": expects one image, (C, H, W) or (1, C, H, W), got shape " << image.sizes()
        << "; explain one image at a time";
    throw Error(msg.str());
  }
  return x;
}

/// (h, w) to (H, W), bilinear (align_corners = false).
inline torch::Tensor upsample(const torch::Tensor& map, int64_t h, int64_t w) {
  if (map.size(0) == h && map.size(1) == w) return map;
  namespace F = torch::nn::functional;
  return F::interpolate(
             map.unsqueeze(0).unsqueeze(0),
             F::InterpolateFuncOptions().size(std::vector<int64_t>{h, w}).mode(torch::kBilinear).align_corners(false))
      .squeeze(0)
      .squeeze(0);
}

/// The tap name of the layer the user named (a table name or a Keras alias), and
/// the name to report back: what the user wrote, so a Keras alias in is a Keras alias out.
/// `to_map`, when set, turns the recorded output and its gradient into (N, C, h, w)
/// maps: a vision transformer's tokens.
struct NamedLayer {
  std::string tap, shown;
  std::function<torch::Tensor(const torch::Tensor&)> to_map = nullptr;
};

inline NamedLayer resolve_layer(const BackboneImpl& backbone, const std::string& layer) {
  std::string tap = layer, shown = layer;
  if (layer.empty()) {
    tap = shown = backbone.explain_layer();
    if (tap.empty())
      throw Error(backbone.spec().name + " declares no feature_info(); name the layer for Grad-CAM explicitly");
  } else {
    tap = backbone.layer_table()[backbone.layer_table().index_of(layer)].name;
  }
  return {tap, shown, [&backbone, tap](const torch::Tensor& t) { return backbone.feature_map(tap, t); }};
}

inline GradCam grad_cam_at(const ForwardFn& forward, const torch::Tensor& image, const NamedLayer& layer,
                           int64_t class_index);
}  // namespace detail

/// Grad-CAM of `forward` on one image at the tapped layer `layer` (a tap name as
/// the layer table lists it). The model is used in whatever mode it is in; call
/// eval() first (the overloads below do). Gradients flow only to the recorded
/// activation: parameters' .grad stay untouched, frozen models work.
inline GradCam grad_cam(const ForwardFn& forward, const torch::Tensor& image, const std::string& layer,
                        int64_t class_index = -1) {
  return detail::grad_cam_at(forward, image, {layer, layer}, class_index);
}

inline GradCam detail::grad_cam_at(const ForwardFn& forward, const torch::Tensor& image, const NamedLayer& named,
                                   int64_t class_index) {
  const std::string& layer = named.tap;
  auto x = detail::as_single_batch(image, "grad_cam");
  torch::AutoGradMode enable_grad(true);
  x = x.detach().clone().requires_grad_(true);  // so that a fully frozen model still builds a graph
  TapRecorder recorder({layer});
  auto out = forward(x);
  if (!recorder.has(layer))
    throw Error("grad_cam: layer '" + named.shown +
                "' produced no output during the forward pass; name a layer the model runs (see layers())");
  auto recorded = recorder.get(layer);
  auto a = named.to_map ? named.to_map(recorded) : recorded;
  if (a.dim() != 4) {
    std::ostringstream msg;
    msg << "grad_cam: layer '" << named.shown << "' outputs shape " << a.sizes()
        << "; Grad-CAM needs a (N, C, h, w) feature map, so pick a convolutional layer";
    throw Error(msg.str());
  }
  if (out.dim() != 2) out = out.flatten(1);
  const int64_t classes = out.size(1);
  GradCam result;
  result.layer = named.shown;
  result.class_index = class_index < 0 ? out[0].argmax().item<int64_t>() : class_index;
  if (result.class_index >= classes)
    throw Error("grad_cam: class_index " + std::to_string(class_index) + " is out of range; the model has " +
                std::to_string(classes) + " outputs");
  auto score = out[0][result.class_index];
  result.score = score.item<double>();
  torch::Tensor g;
  if (recorded.requires_grad())
    g = torch::autograd::grad({score}, {recorded}, {}, false, false, /*allow_unused=*/true)[0];
  if (!g.defined()) g = torch::zeros_like(recorded);  // the score does not depend on this layer
  if (named.to_map) g = named.to_map(g);
  auto act = a.detach()[0];                     // (C, h, w)
  result.weights = g.detach()[0].mean({1, 2});  // (C)
  result.cam = torch::relu((result.weights.view({-1, 1, 1}) * act).sum(0));
  auto up = detail::upsample(result.cam, x.size(2), x.size(3));
  const float peak = up.max().item<float>();
  result.heatmap = peak > 0 ? (up / peak).clamp(0, 1) : torch::zeros_like(up);
  return result;
}

/// Grad-CAM of a backbone with its top (model in eval mode during the call).
/// `image`: the preprocessed input, (C, H, W) or (1, C, H, W).
inline GradCam grad_cam(BackboneImpl& backbone, const torch::Tensor& image, const GradCamOptions& options = {}) {
  const auto layer = detail::resolve_layer(backbone, options.layer());
  EvalGuard eval(backbone);
  return detail::grad_cam_at([&](const torch::Tensor& x) { return backbone.forward(x); }, to_module(image, backbone),
                             layer, options.class_index());
}

/// Grad-CAM of any module holder whose forward runs `backbone` (a Classifier of
/// backbone + head); layer names and the default layer come from `backbone`.
template <class Model>
GradCam grad_cam(Model& model, const BackboneImpl& backbone, const torch::Tensor& image,
                 const GradCamOptions& options = {}) {
  const auto layer = detail::resolve_layer(backbone, options.layer());
  EvalGuard eval(*model);
  return detail::grad_cam_at([&](const torch::Tensor& x) { return model->forward(x); }, to_module(image, *model), layer,
                             options.class_index());
}

/// Grad-CAM of a Classifier (backbone + head): explains the head's logits (before
/// its output activation, as the Keras tutorial does); layer names from its backbone.
/// With one output (a sigmoid classifier), class 0 is the positive logit.
inline GradCam grad_cam(Classifier& model, const torch::Tensor& image, const GradCamOptions& options = {}) {
  const auto layer = detail::resolve_layer(*model->backbone, options.layer());
  EvalGuard eval(*model);
  return detail::grad_cam_at([&](const torch::Tensor& x) { return model->logits(x); }, to_module(image, *model), layer,
                             options.class_index());
}

/// The heatmap (h, w, 0..1; resized bilinear to the image) in colour over the
/// image (CHW float 0..255 or HWC uint8): (1 - alpha) * image + alpha * colour.
/// Returns CHW float 0..255.
inline torch::Tensor overlay(const torch::Tensor& image, const torch::Tensor& heatmap, Colormap map = Colormap::Jet,
                             double alpha = 0.4) {
  if (!(alpha >= 0 && alpha <= 1)) throw Error("overlay: alpha must be in 0..1, got " + std::to_string(alpha));
  auto img = tlearn::detail::to_chw_float(image.detach().to(torch::kCPU));
  if (img.dim() != 3 || (img.size(0) != 3 && img.size(0) != 1)) {
    std::ostringstream msg;
    msg << "overlay: expected the photo as (3, H, W) float 0..255 or (H, W, 3) uint8, got shape " << image.sizes();
    throw Error(msg.str());
  }
  if (img.size(0) == 1) img = img.expand({3, -1, -1});
  if (heatmap.dim() != 2) {
    std::ostringstream msg;
    msg << "overlay: expected the heatmap as (H, W) in 0..1, got shape " << heatmap.sizes();
    throw Error(msg.str());
  }
  auto heat = detail::upsample(heatmap.detach().to(torch::kCPU).to(torch::kFloat), img.size(1), img.size(2));
  return ((1 - alpha) * img + alpha * apply_colormap(heat, map)).clamp(0, 255);
}

/// Writes `overlay(image, heatmap, map, alpha)` as a PNG.
inline void save_overlay(const std::filesystem::path& path, const torch::Tensor& image, const torch::Tensor& heatmap,
                         Colormap map = Colormap::Jet, double alpha = 0.4) {
  io::write_png(overlay(image, heatmap, map, alpha), path);
}

}  // namespace tlearn::explain
