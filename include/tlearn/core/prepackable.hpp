#pragma once
/// \file
/// A layer that can keep its weights in oneDNN's layout for inference (nn::Conv2d,
/// nn::Linear, nn::MultiheadSelfAttention). optimize_for_inference finds every
/// one of them in a model through this interface and turns packing on; a layer
/// that cannot pack on this LibTorch simply keeps running torch's own forward.

namespace tlearn::nn {

class Prepackable {
 public:
  virtual ~Prepackable() = default;
  /// On: reuse weights packed once whenever no gradient is recorded. Off: drop the packed copies.
  virtual void set_prepacked(bool on) = 0;
  virtual bool prepacked() const = 0;
};

}  // namespace tlearn::nn
