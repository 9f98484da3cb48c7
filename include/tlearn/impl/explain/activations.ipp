// Implementation of tlearn/explain/activations.hpp.
#include "tlearn/core/tensor_options.hpp"
#include "tlearn/explain/activations.hpp"

namespace tlearn::explain {

torch::Tensor activations(BackboneImpl& backbone, const torch::Tensor& image, const std::string& layer) {
  auto x = to_module(detail::as_single_batch(image, "activations"), backbone);
  EvalGuard eval(backbone);
  torch::NoGradGuard no_grad;
  auto out = backbone.forward_features(x, {layer}).at(0);
  if (out.dim() != 4) {
    std::ostringstream msg;
    msg << "activations: layer '" << layer << "' outputs shape " << out.sizes()
        << "; channel images need a (N, C, h, w) feature map, so pick a convolutional layer";
    throw Error(msg.str());
  }
  return out[0];
}

torch::Tensor channel_grid(const torch::Tensor& model_maps, const GridOptions& options) {
  const auto maps = model_maps.detach().to(torch::kCPU, torch::kFloat);  // images are CPU float32
  if (maps.dim() != 3 || maps.size(0) == 0) {
    std::ostringstream msg;
    msg << "channel_grid: expected (C, h, w) channel maps, got shape " << maps.sizes();
    throw Error(msg.str());
  }
  if (options.scale() < 1)
    throw Error("channel_grid: scale must be at least 1, got " + std::to_string(options.scale()));
  int64_t n = maps.size(0);
  if (options.max_channels() > 0) n = std::min(n, options.max_channels());
  std::vector<torch::Tensor> tiles;
  for (int64_t c = 0; c < n; ++c) {
    auto tile = apply_colormap(normalize01(maps[c]), options.colormap());
    if (options.scale() > 1) tile = tile.repeat_interleave(options.scale(), 1).repeat_interleave(options.scale(), 2);
    tiles.push_back(tile);
  }
  return data::make_grid(torch::stack(tiles), options.columns(), options.padding());
}

torch::Tensor activation_grid(BackboneImpl& backbone, const torch::Tensor& image, const std::string& layer,
                              const GridOptions& options) {
  return channel_grid(activations(backbone, image, layer), options);
}

torch::Tensor save_activation_grid(const std::filesystem::path& path, BackboneImpl& backbone,
                                   const torch::Tensor& image, const std::string& layer, const GridOptions& options) {
  auto grid = activation_grid(backbone, image, layer, options);
  io::write_png(grid, path);
  return grid;
}

torch::Tensor filter_pattern(BackboneImpl& backbone, const std::string& layer, int64_t filter,
                             const FilterOptions& options) {
  const auto name = detail::resolve_layer(backbone, layer).tap;
  auto size = options.size().empty() ? backbone.input_shape() : options.size();
  if (size.size() != 2 || size[0] < 1 || size[1] < 1)
    throw Error("filter_pattern: size must be {H, W} with positive values");
  if (options.steps() < 0) throw Error("filter_pattern: steps must be >= 0");
  EvalGuard eval(backbone);
  torch::AutoGradMode enable_grad(true);
  const int64_t chans = backbone.options().in_chans();
  auto gen = at::detail::createCPUGenerator(options.seed());
  auto pixels = (128 + 20 * (torch::rand({1, chans, size[0], size[1]}, gen) * 2 - 1))
                    .to(module_options(backbone))
                    .requires_grad_(true);
  auto preprocess = [&](const torch::Tensor& p) {
    return chans == 3 ? preprocess_input(p, backbone.preprocessing()) : p / 255.0;
  };
  auto objective = [&](const torch::Tensor& p) {
    TapRecorder recorder({name}, /*stop_early=*/true);
    run_until_stopped(recorder, [&] { backbone.forward_features(preprocess(p)); });
    auto a = recorder.get(name);
    if (a.dim() < 2 || filter < 0 || filter >= a.size(1)) {
      std::ostringstream msg;
      msg << "filter_pattern: filter " << filter << " does not exist; layer '" << layer << "' outputs shape "
          << a.sizes() << " (filters are along dimension 1)";
      throw Error(msg.str());
    }
    return a.select(1, filter).mean();
  };
  for (int64_t step = 0; step < options.steps(); ++step) {
    auto g = torch::autograd::grad({objective(pixels)}, {pixels})[0];
    g = g / (g.pow(2).mean().sqrt() + 1e-5);
    torch::NoGradGuard no_grad;
    pixels.add_(g, options.step_size());
  }
  if (options.steps() == 0) (void)objective(pixels);  // still validates the layer and filter
  auto p = pixels.detach()[0].to(torch::kCPU, torch::kFloat);
  p = (p - p.mean()) / (p.std() + 1e-5);
  auto out = (p * 25 + 128).clamp(0, 255);
  return chans == 3 ? out : out.expand({3, -1, -1}).contiguous();
}

torch::Tensor filter_grid(BackboneImpl& backbone, const std::string& layer, std::vector<int64_t> filters,
                          const FilterOptions& options, const GridOptions& grid) {
  if (filters.empty()) {
    const int64_t side = std::max<int64_t>(backbone.spec().min_size, 32);  // a dry run for the channel count
    auto a = activations(backbone,
                         torch::zeros({1, backbone.options().in_chans(), side, side}, module_options(backbone)), layer);
    const int64_t n = grid.max_channels() > 0 ? std::min(a.size(0), grid.max_channels()) : a.size(0);
    for (int64_t f = 0; f < n; ++f) filters.push_back(f);
  }
  std::vector<torch::Tensor> tiles;
  for (auto f : filters) {
    auto tile = filter_pattern(backbone, layer, f, options);
    if (grid.scale() > 1) tile = tile.repeat_interleave(grid.scale(), 1).repeat_interleave(grid.scale(), 2);
    tiles.push_back(tile);
  }
  return data::make_grid(torch::stack(tiles), grid.columns(), grid.padding());
}

torch::Tensor save_filter_grid(const std::filesystem::path& path, BackboneImpl& backbone, const std::string& layer,
                               std::vector<int64_t> filters, const FilterOptions& options, const GridOptions& grid) {
  auto out = filter_grid(backbone, layer, std::move(filters), options, grid);
  io::write_png(out, path);
  return out;
}

}  // namespace tlearn::explain
