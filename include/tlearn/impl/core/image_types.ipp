// Implementation of tlearn/core/image_types.hpp.
#include "tlearn/core/image_types.hpp"

#include <sstream>

#include "tlearn/core/error.hpp"

namespace tlearn {

Preprocessing Preprocessing::mean_std(std::array<float, 3> mean, std::array<float, 3> stddev) {
  for (float s : stddev)
    if (!(s > 0)) throw Error("Preprocessing::mean_std: every std must be positive");
  Preprocessing p(MeanStd);
  p.mean_ = mean;
  p.stddev_ = stddev;
  return p;
}

std::array<float, 3> Preprocessing::mean() const {
  switch (mode_) {
    case Torch: return {0.485f, 0.456f, 0.406f};
    case TF: return {0.5f, 0.5f, 0.5f};
    case MeanStd: return mean_;
    default: throw Error("Preprocessing: " + to_string(*this) + " is not a mean and std on 0..1 inputs");
  }
}

std::array<float, 3> Preprocessing::stddev() const {
  switch (mode_) {
    case Torch: return {0.229f, 0.224f, 0.225f};
    case TF: return {0.5f, 0.5f, 0.5f};
    case MeanStd: return stddev_;
    default: throw Error("Preprocessing: " + to_string(*this) + " is not a mean and std on 0..1 inputs");
  }
}

std::string to_string(const Preprocessing& p) {
  switch (p.mode()) {
    case Preprocessing::Identity:
      return "identity";
    case Preprocessing::Caffe:
      return "caffe";
    case Preprocessing::TF:
      return "tf";
    case Preprocessing::Torch:
      return "torch";
    case Preprocessing::MeanStd: {
      std::ostringstream s;
      s.precision(9);
      const auto m = p.mean(), d = p.stddev();
      s << "mean_std(" << m[0] << ", " << m[1] << ", " << m[2] << " / " << d[0] << ", " << d[1] << ", " << d[2] << ")";
      return s.str();
    }
  }
  return "?";
}

Preprocessing preprocessing_from_string(const std::string& name) {
  if (name == "identity" || name == "none") return Preprocessing::Identity;
  if (name == "caffe") return Preprocessing::Caffe;
  if (name == "tf") return Preprocessing::TF;
  if (name == "torch") return Preprocessing::Torch;
  if (name.rfind("mean_std(", 0) == 0) {
    std::istringstream in(name.substr(9));
    std::array<float, 3> m{}, d{};
    char c0 = 0, c1 = 0, slash = 0, c2 = 0, c3 = 0, close = 0;
    in >> m[0] >> c0 >> m[1] >> c1 >> m[2] >> slash >> d[0] >> c2 >> d[1] >> c3 >> d[2] >> close;
    if (in && c0 == ',' && c1 == ',' && slash == '/' && c2 == ',' && c3 == ',' && close == ')' &&
        (in >> std::ws).eof())
      return Preprocessing::mean_std(m, d);
  }
  throw Error("unknown preprocessing mode '" + name +
              "'; use one of identity, caffe, tf, torch, or mean_std(m0, m1, m2 / s0, s1, s2)");
}

}  // namespace tlearn
