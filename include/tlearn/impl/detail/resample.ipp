// Implementation of tlearn/detail/resample.hpp.
#include "tlearn/detail/resample.hpp"

namespace tlearn::detail {

ImageView view_image(const torch::Tensor& image, torch::Tensor& keep) {
  if (image.dim() != 2 && image.dim() != 3) {
    std::ostringstream msg;
    msg << "expected an image tensor (HWC uint8 or CHW float), got shape " << image.sizes();
    throw Error(msg.str());
  }
  ImageView v;
  if (image.scalar_type() == torch::kUInt8) {
    keep = image.contiguous();
    v.u8 = true;
    v.H = keep.size(0);
    v.W = keep.size(1);
    v.C = keep.dim() == 3 ? keep.size(2) : 1;
    v.sc = 1;
    v.sx = v.C;
    v.sy = v.W * v.C;
  } else {
    keep = image.to(torch::kFloat).contiguous();
    v.C = keep.dim() == 3 ? keep.size(0) : 1;
    v.H = keep.size(-2);
    v.W = keep.size(-1);
    v.sc = v.H * v.W;
    v.sy = v.W;
    v.sx = 1;
  }
  v.data = keep.data_ptr();
  if (v.H <= 0 || v.W <= 0 || v.C <= 0) {
    std::ostringstream msg;
    msg << "cannot transform an empty image of shape " << image.sizes();
    throw Error(msg.str());
  }
  return v;
}

double filter_weight(Interpolation f, double x) {
  switch (f) {
    case Interpolation::Area:  // PIL BOX
      return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0;
    case Interpolation::Bilinear:
      x = std::fabs(x);
      return x < 1.0 ? 1.0 - x : 0.0;
    case Interpolation::Bicubic: {
      const double a = -0.5;
      x = std::fabs(x);
      if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
      if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
      return 0.0;
    }
    case Interpolation::Nearest:
      break;
  }
  return 0.0;
}

double filter_support(Interpolation f) {
  switch (f) {
    case Interpolation::Area:
      return 0.5;
    case Interpolation::Bilinear:
      return 1.0;
    case Interpolation::Bicubic:
      return 2.0;
    case Interpolation::Nearest:
      return 0.0;
  }
  return 1.0;
}

Coefficients coefficients(int64_t in_size, double in0, double in1, int64_t out_size, int64_t first, int64_t n,
                          Interpolation f) {
  Coefficients c;
  c.start.resize(n);
  c.count.resize(n);
  const double scale = (in1 - in0) / static_cast<double>(out_size);
  if (f == Interpolation::Nearest) {
    c.weights.assign(n, 1.0f);
    c.exact.assign(n, 1.0);
    for (int64_t i = 0; i < n; ++i) {
      auto x = static_cast<int64_t>(std::floor(in0 + (first + i + 0.5) * scale));
      c.start[i] = std::clamp<int64_t>(x, 0, in_size - 1);
      c.count[i] = 1;
    }
    return c;
  }
  const double filterscale = std::max(scale, 1.0);
  const double support = filter_support(f) * filterscale;
  c.ksize = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  c.weights.assign(n * c.ksize, 0.0f);
  c.exact.assign(n * c.ksize, 0.0);
  std::vector<double> k(c.ksize);
  for (int64_t i = 0; i < n; ++i) {
    const double center = in0 + (first + i + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    auto xmin = static_cast<int64_t>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    auto xmax = static_cast<int64_t>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    xmax = std::min(xmax, c.ksize);
    double ww = 0.0;
    for (int64_t x = 0; x < xmax; ++x) {
      k[x] = filter_weight(f, (x + xmin - center + 0.5) * ss);
      ww += k[x];
    }
    if (xmax <= 0) {  // degenerate box: take the nearest pixel
      xmin = std::clamp<int64_t>(static_cast<int64_t>(center), 0, in_size - 1);
      xmax = 1;
      k[0] = ww = 1.0;
    }
    for (int64_t x = 0; x < xmax; ++x) {
      c.exact[i * c.ksize + x] = ww != 0.0 ? k[x] / ww : 0.0;
      c.weights[i * c.ksize + x] = static_cast<float>(c.exact[i * c.ksize + x]);
    }
    c.start[i] = xmin;
    c.count[i] = xmax;
  }
  return c;
}

float round_u8(float v) {
  v = v < 0.f ? 0.f : (v > 255.f ? 255.f : v);
  return static_cast<float>(static_cast<int>(v + 0.5f));  // truncation = floor for v >= 0
}

std::vector<int32_t> fixed_point(const Coefficients& c) {
  std::vector<int32_t> k(c.weights.size());
  for (size_t i = 0; i < k.size(); ++i) {
    const double w = c.exact[i] * double(1 << kPrecisionBits);
    k[i] = static_cast<int32_t>(w < 0 ? std::trunc(-0.5 + w) : std::trunc(0.5 + w));
  }
  return k;
}

uint8_t clip8(int32_t v) {
  if (v >= (1 << kPrecisionBits << 8)) return 255;
  if (v <= 0) return 0;
  return static_cast<uint8_t>(v >> kPrecisionBits);
}

void resize_kernel_u8(const uint8_t* src, const ImageView& v, const Coefficients& cx, const Coefficients& cy,
                      int64_t row0, int64_t rows, int64_t oh, int64_t ow, float* dst) {
  const std::vector<int32_t> kx = fixed_point(cx), ky = fixed_point(cy);
  std::vector<uint8_t> tmp(static_cast<size_t>(v.C * rows * ow));
  const int32_t half = 1 << (kPrecisionBits - 1);
  for (int64_t y = 0; y < rows; ++y) {
    const uint8_t* row = src + (row0 + y) * v.sy;
    for (int64_t x = 0; x < ow; ++x) {
      const int32_t* w = kx.data() + x * cx.ksize;
      const uint8_t* p = row + cx.start[x] * v.sx;
      const int64_t n = cx.count[x];
      if (v.C == 3 && v.sc == 1) {
        int32_t a0 = half, a1 = half, a2 = half;
        for (int64_t k = 0; k < n; ++k, p += v.sx) {
          a0 += int32_t(p[0]) * w[k];
          a1 += int32_t(p[1]) * w[k];
          a2 += int32_t(p[2]) * w[k];
        }
        tmp[(0 * rows + y) * ow + x] = clip8(a0);
        tmp[(1 * rows + y) * ow + x] = clip8(a1);
        tmp[(2 * rows + y) * ow + x] = clip8(a2);
      } else {
        for (int64_t c = 0; c < v.C; ++c) {
          int32_t a = half;
          const uint8_t* q = p + c * v.sc;
          for (int64_t k = 0; k < n; ++k) a += int32_t(q[k * v.sx]) * w[k];
          tmp[(c * rows + y) * ow + x] = clip8(a);
        }
      }
    }
  }
  std::vector<int32_t> acc(static_cast<size_t>(ow));
  for (int64_t c = 0; c < v.C; ++c) {
    for (int64_t y = 0; y < oh; ++y) {
      std::fill(acc.begin(), acc.end(), half);
      const int32_t* w = ky.data() + y * cy.ksize;
      for (int64_t k = 0; k < cy.count[y]; ++k) {
        const uint8_t* __restrict in = tmp.data() + (c * rows + cy.start[y] + k - row0) * ow;
        int32_t* __restrict a = acc.data();
        const int32_t wk = w[k];
        for (int64_t x = 0; x < ow; ++x) a[x] += int32_t(in[x]) * wk;
      }
      float* out = dst + (c * oh + y) * ow;
      for (int64_t x = 0; x < ow; ++x) out[x] = clip8(acc[x]);
    }
  }
}

torch::Tensor resize(const torch::Tensor& image, const ResizePlan& plan, Interpolation f) {
  torch::Tensor keep;
  ImageView v = view_image(image, keep);
  auto out = torch::empty({v.C, plan.h, plan.w}, torch::kFloat);
  dispatch_view(v, [&](auto* src) { resize_kernel(src, v, plan, f, out.data_ptr<float>()); });
  return out;
}

torch::Tensor to_chw_float(const torch::Tensor& image) {
  if (image.scalar_type() != torch::kUInt8) {
    auto f = image.to(torch::kFloat);
    return f.dim() == 2 ? f.unsqueeze(0) : f;
  }
  torch::Tensor keep;
  ImageView v = view_image(image, keep);
  auto out = torch::empty({v.C, v.H, v.W}, torch::kFloat);
  const uint8_t* s = static_cast<const uint8_t*>(v.data);
  float* d = out.data_ptr<float>();
  const int64_t n = v.H * v.W;
  for (int64_t c = 0; c < v.C; ++c)
    for (int64_t i = 0; i < n; ++i) d[c * n + i] = s[i * v.C + c];
  return out;
}

int64_t fill_index(int64_t i, int64_t n, FillMode mode) {
  if (i >= 0 && i < n) return i;
  switch (mode) {
    case FillMode::Nearest:
      return i < 0 ? 0 : n - 1;
    case FillMode::Constant:
      return -1;
    case FillMode::Wrap: {
      int64_t m = i % n;
      return m < 0 ? m + n : m;
    }
    case FillMode::Reflect: {
      const int64_t period = 2 * n;
      int64_t m = i % period;
      if (m < 0) m += period;
      return m < n ? m : period - 1 - m;
    }
  }
  return -1;
}

torch::Tensor affine(const torch::Tensor& image, const Affine& m, int64_t oh, int64_t ow, FillMode mode, float fill) {
  torch::Tensor keep;
  ImageView v = view_image(image, keep);
  auto out = torch::empty({v.C, oh, ow}, torch::kFloat);
  dispatch_view(v, [&](auto* src) { affine_kernel(src, v, m, oh, ow, mode, fill, out.data_ptr<float>()); });
  return out;
}

std::pair<int64_t, int64_t> image_hw(const torch::Tensor& image) {
  if (image.dim() == 2) return {image.size(0), image.size(1)};
  if (image.scalar_type() == torch::kUInt8) return {image.size(0), image.size(1)};
  return {image.size(-2), image.size(-1)};
}

}  // namespace tlearn::detail
