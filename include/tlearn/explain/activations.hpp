#pragma once
/// \file
/// Looking at a layer: its activations for one image as a grid of channel
/// images, and the input pattern each filter responds to most (gradient ascent
/// from noise, Chollet's "visualizing convnet filters").
///
///     namespace ex = tlearn::explain;
///     ex::save_activation_grid("block1.png", *vgg, vgg->preprocess(x), "block1_conv1");
///     ex::save_filter_grid("filters.png", *vgg, "block3_conv1", {0, 1, 2, 3, 4, 5, 6, 7});

#include <torch/torch.h>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "tlearn/core/error.hpp"
#include "tlearn/core/tap.hpp"
#include "tlearn/data/grid.hpp"
#include "tlearn/explain/colormap.hpp"
#include "tlearn/explain/gradcam.hpp"
#include "tlearn/models/backbone.hpp"

namespace tlearn::explain {

/// How channel images are laid out.
struct GridOptions {
  /// Images per row.
  TORCH_ARG(int64_t, columns) = 8;
  /// Show at most this many channels (the first ones); 0: all.
  TORCH_ARG(int64_t, max_channels) = 64;
  /// Pixels between images.
  TORCH_ARG(int64_t, padding) = 2;
  /// Each channel image is magnified by this integer factor (nearest).
  TORCH_ARG(int64_t, scale) = 1;
  TORCH_ARG(Colormap, colormap) = Colormap::Viridis;
};

/// The output of `layer` (name or Keras alias) for one preprocessed image,
/// (C, h, w); the forward pass stops after the layer and runs in eval mode without gradients.
torch::Tensor activations(BackboneImpl& backbone, const torch::Tensor& image, const std::string& layer);

/// Channel maps (C, h, w) as one colour image (3, H, W), float 0..255: each channel
/// stretched to 0..1 by its own range, colour-mapped, laid out in a grid.
torch::Tensor channel_grid(const torch::Tensor& maps, const GridOptions& options = {});

/// The activations of `layer` for one preprocessed image as a channel grid.
torch::Tensor activation_grid(BackboneImpl& backbone, const torch::Tensor& image, const std::string& layer,
                              const GridOptions& options = {});

/// Writes `activation_grid(...)` as a PNG and returns the grid.
torch::Tensor save_activation_grid(const std::filesystem::path& path, BackboneImpl& backbone,
                                   const torch::Tensor& image, const std::string& layer,
                                   const GridOptions& options = {});

struct FilterOptions {
  /// {H, W} of the pattern; empty: the backbone's input_shape().
  TORCH_ARG(std::vector<int64_t>, size) = {};
  /// Gradient-ascent steps and step size (in 0..255 pixel units, on the RMS-normalised gradient).
  TORCH_ARG(int64_t, steps) = 30;
  TORCH_ARG(double, step_size) = 4.0;
  /// Seed of the starting noise (grey 128 +- 20).
  TORCH_ARG(uint64_t, seed) = 0;
};

/// The input (3, H, W), float 0..255, that maximises the mean activation of filter
/// `filter` of `layer`: gradient ascent in pixel space through the backbone's
/// preprocessing, each pass stopped right after the layer. The result is shown
/// standardised (mean 128, std ~25), as in Chollet's deprocess_image.
torch::Tensor filter_pattern(BackboneImpl& backbone, const std::string& layer, int64_t filter,
                             const FilterOptions& options = {});

/// The patterns of `filters` of `layer` (empty: the first grid.max_channels()),
/// as one image grid (3, H, W), float 0..255.
torch::Tensor filter_grid(BackboneImpl& backbone, const std::string& layer, std::vector<int64_t> filters = {},
                          const FilterOptions& options = {}, const GridOptions& grid = {});

/// Writes `filter_grid(...)` as a PNG and returns the grid.
torch::Tensor save_filter_grid(const std::filesystem::path& path, BackboneImpl& backbone, const std::string& layer,
                               std::vector<int64_t> filters = {}, const FilterOptions& options = {},
                               const GridOptions& grid = {});

}  // namespace tlearn::explain
