#pragma once
/// \file
/// Colour maps for heatmaps and activation images: 256-entry RGB tables
/// (matplotlib's jet, viridis, inferno, and plain gray).
///
///     auto rgb = tlearn::explain::apply_colormap(heat, tlearn::explain::Colormap::Viridis);  // (3, H, W) 0..255
///     auto table = tlearn::explain::colormap_table(tlearn::explain::Colormap::Jet);          // (256, 3) uint8

#include <torch/torch.h>

#include <cstring>
#include <sstream>
#include <string>

#include "tlearn/core/error.hpp"
#include "tlearn/detail/colormap_tables.hpp"

namespace tlearn::explain {

/// Jet is the classic Grad-CAM look; viridis and inferno are perceptually uniform
/// (equal steps in value look like equal steps in colour) and colour-blind safe.
enum class Colormap { Jet, Viridis, Inferno, Gray };

/// "jet", "viridis", "inferno" or "gray" (for command lines and config files).
inline Colormap colormap_from_name(const std::string& name) {
  if (name == "jet") return Colormap::Jet;
  if (name == "viridis") return Colormap::Viridis;
  if (name == "inferno") return Colormap::Inferno;
  if (name == "gray" || name == "grey") return Colormap::Gray;
  throw Error("unknown colour map '" + name + "'; use one of jet, viridis, inferno, gray");
}

/// The map as a (256, 3) uint8 tensor: row i is the colour of value i / 255.
inline torch::Tensor colormap_table(Colormap map) {
  auto table = torch::empty({256, 3}, torch::kUInt8);
  auto* out = table.data_ptr<uint8_t>();
  const uint8_t* src = nullptr;
  switch (map) {
    case Colormap::Jet: src = detail::kJet; break;
    case Colormap::Viridis: src = detail::kViridis; break;
    case Colormap::Inferno: src = detail::kInferno; break;
    case Colormap::Gray:
      for (int i = 0; i < 256; ++i) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = static_cast<uint8_t>(i);
      return table;
  }
  std::memcpy(out, src, 256 * 3);
  return table;
}

/// Stretches `x` to 0..1 by its own minimum and maximum; a constant tensor gives zeros.
inline torch::Tensor normalize01(const torch::Tensor& x) {
  auto t = x.detach().to(torch::kFloat);
  const float lo = t.min().item<float>(), hi = t.max().item<float>();
  if (!(hi > lo)) return torch::zeros_like(t);
  return (t - lo) / (hi - lo);
}

/// Values (H, W) in 0..1 (clamped; NaN counts as 0) to a colour image (3, H, W), float 0..255.
inline torch::Tensor apply_colormap(const torch::Tensor& values, Colormap map = Colormap::Viridis) {
  if (values.dim() != 2) {
    std::ostringstream msg;
    msg << "apply_colormap: expected an (H, W) map of values in 0..1, got shape " << values.sizes()
        << "; pick one channel or image first";
    throw Error(msg.str());
  }
  auto v = torch::nan_to_num(values.detach().to(torch::kCPU).to(torch::kFloat), 0.0).clamp(0, 1);
  auto index = (v * 255).round().to(torch::kLong).flatten();
  auto rgb = colormap_table(map).index_select(0, index).to(torch::kFloat);
  return rgb.view({values.size(0), values.size(1), 3}).permute({2, 0, 1}).contiguous();
}

}  // namespace tlearn::explain
