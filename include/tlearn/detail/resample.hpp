#pragma once
/// \file
/// Pixel kernels over raw pointers: PIL's separable antialiased resampling and
/// one-pass affine sampling with Keras fill modes. Internal: use
/// tlearn/data/transforms.hpp and tlearn/data/augment.hpp.

#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <sstream>
#include <vector>

#include "tlearn/core/error.hpp"
#include "tlearn/core/image_types.hpp"

namespace tlearn {

namespace detail {

/// A strided view of an image: HWC uint8 (as decoded) or CHW float.
struct ImageView {
  const void* data = nullptr;
  bool u8 = false;
  int64_t C = 0, H = 0, W = 0;
  int64_t sc = 0, sy = 0, sx = 0;  // element strides
};

/// Views `image` (HWC uint8, HW uint8, CHW float or HW float); `keep` receives the
/// contiguous tensor that owns the memory.
ImageView view_image(const torch::Tensor& image, torch::Tensor& keep);

template <typename F>
inline void dispatch_view(const ImageView& v, F&& f) {
  if (v.u8)
    f(static_cast<const uint8_t*>(v.data));
  else
    f(static_cast<const float*>(v.data));
}

// ---- PIL's resampling filters (libImaging/Resample.c) ----------------------

double filter_weight(Interpolation f, double x);

double filter_support(Interpolation f);

/// Per output index: first input index, tap count and normalised weights.
struct Coefficients {
  std::vector<int64_t> start, count;
  std::vector<float> weights;   // ksize per output index
  std::vector<double> exact;    // the same in double (for PIL's fixed-point weights)
  int64_t ksize = 1;
};

/// PIL's precompute_coeffs: input range [in0, in1) of an axis of `in_size`
/// pixels mapped onto `out_size` pixels; the support grows with the
/// downscale factor (antialiasing). Only outputs [first, first + n) are kept.
Coefficients coefficients(int64_t in_size, double in0, double in1, int64_t out_size, int64_t first, int64_t n,
                          Interpolation f);

/// What to resize: the source box (in input pixels) and which window of the
/// full-size output to produce (a center crop of the resized image for free).
struct ResizePlan {
  double x0 = 0, y0 = 0, x1 = 0, y1 = 0;  // source box; x1 = W, y1 = H for the whole image
  int64_t out_h = 0, out_w = 0;           // size of the whole resized image
  int64_t top = 0, left = 0;              // window into it
  int64_t h = 0, w = 0;                   // window size = output size
};

/// out[x] += w * in[x]: a loop the compiler vectorises (no aliasing).
inline void axpy(float* __restrict out, const float* __restrict in, float w, int64_t n) {
  for (int64_t x = 0; x < n; ++x) out[x] += w * in[x];
}

float round_u8(float v);

/// PIL's fixed-point resampling of 8-bit images (Resample.c, PRECISION_BITS = 22):
/// integer weights, rounding at the end of each pass. Bit-exact with PIL.
constexpr int kPrecisionBits = 32 - 8 - 2;

std::vector<int32_t> fixed_point(const Coefficients& c);

uint8_t clip8(int32_t v);

/// Horizontal pass over interleaved channels (HWC, NC known at compile time or -1).
template <int NC, typename T>
inline void resize_rows_interleaved(const T* src, const ImageView& v, const Coefficients& cx, int64_t row0, int64_t rows,
                                    int64_t ow, bool round, float* tmp) {
  const int64_t C = NC > 0 ? NC : v.C;
  float acc[4];
  for (int64_t y = 0; y < rows; ++y) {
    const T* row = src + (row0 + y) * v.sy;
    for (int64_t x = 0; x < ow; ++x) {
      const float* w = cx.weights.data() + x * cx.ksize;
      const T* p = row + cx.start[x] * v.sx;
      for (int64_t c = 0; c < C; ++c) acc[c] = 0.f;
      for (int64_t k = 0; k < cx.count[x]; ++k, p += v.sx)
        for (int64_t c = 0; c < C; ++c) acc[c] += w[k] * static_cast<float>(p[c]);
      for (int64_t c = 0; c < C; ++c) tmp[(c * rows + y) * ow + x] = round ? round_u8(acc[c]) : acc[c];
    }
  }
}

/// The 8-bit path: horizontal pass (HWC or any strides) into planar uint8 rows,
/// vertical pass into CHW float, both in PIL's fixed point.
void resize_kernel_u8(const uint8_t* src, const ImageView& v, const Coefficients& cx, const Coefficients& cy,
                      int64_t row0, int64_t rows, int64_t oh, int64_t ow, float* dst);

/// Separable resampling (horizontal pass, then vertical), PIL's algorithm.
/// With uint8 input the intermediate and final values are rounded and clamped
/// to 0..255 as PIL does; float input stays unrounded. Writes CHW float to `dst`.
template <typename T>
inline void resize_kernel(const T* src, const ImageView& v, const ResizePlan& p, Interpolation f, float* dst) {
  const Coefficients cx = coefficients(v.W, p.x0, p.x1, p.out_w, p.left, p.w, f);
  const Coefficients cy = coefficients(v.H, p.y0, p.y1, p.out_h, p.top, p.h, f);
  const bool round = std::is_same<T, uint8_t>::value;
  // Rows of the input that the vertical pass reads.
  int64_t row0 = v.H, row1 = 0;
  for (int64_t i = 0; i < p.h; ++i) {
    row0 = std::min(row0, cy.start[i]);
    row1 = std::max(row1, cy.start[i] + cy.count[i]);
  }
  const int64_t rows = row1 - row0;
  if constexpr (std::is_same<T, uint8_t>::value) {
    if (f != Interpolation::Nearest) return resize_kernel_u8(src, v, cx, cy, row0, rows, p.h, p.w, dst);
  }
  std::vector<float> tmp(static_cast<size_t>(v.C * rows * p.w));
  if (v.sc == 1 && v.C == 3) {
    resize_rows_interleaved<3>(src, v, cx, row0, rows, p.w, round, tmp.data());
  } else if (v.sc == 1 && v.C <= 4) {
    resize_rows_interleaved<-1>(src, v, cx, row0, rows, p.w, round, tmp.data());
  } else {
    for (int64_t c = 0; c < v.C; ++c) {
      for (int64_t y = 0; y < rows; ++y) {
        const T* row = src + (row0 + y) * v.sy + c * v.sc;
        float* out = tmp.data() + (c * rows + y) * p.w;
        for (int64_t x = 0; x < p.w; ++x) {
          const float* w = cx.weights.data() + x * cx.ksize;
          const T* s = row + cx.start[x] * v.sx;
          float acc = 0.f;
          for (int64_t k = 0; k < cx.count[x]; ++k) acc += w[k] * static_cast<float>(s[k * v.sx]);
          out[x] = round ? round_u8(acc) : acc;
        }
      }
    }
  }
  for (int64_t c = 0; c < v.C; ++c) {
    for (int64_t y = 0; y < p.h; ++y) {
      float* out = dst + (c * p.h + y) * p.w;
      std::fill(out, out + p.w, 0.f);
      const float* w = cy.weights.data() + y * cy.ksize;
      for (int64_t k = 0; k < cy.count[y]; ++k)
        axpy(out, tmp.data() + (c * rows + cy.start[y] + k - row0) * p.w, w[k], p.w);
      if (round)
        for (int64_t x = 0; x < p.w; ++x) out[x] = round_u8(out[x]);
    }
  }
}

/// Resizes/crops `image` by `plan`; returns CHW float.
torch::Tensor resize(const torch::Tensor& image, const ResizePlan& plan, Interpolation f);

/// HWC uint8 → CHW float, no resampling.
torch::Tensor to_chw_float(const torch::Tensor& image);

// ---- affine sampling ---------------------------------------------------------

/// Maps index `i` into [0, n) by the fill mode; -1 means "use the fill value".
int64_t fill_index(int64_t i, int64_t n, FillMode mode);

/// 2x3 matrix taking output pixel centers (x, y) to input pixel centers:
/// x_in = m[0] x + m[1] y + m[2], y_in = m[3] x + m[4] y + m[5].
using Affine = std::array<double, 6>;

/// Samples the input once per output pixel with bilinear interpolation.
template <typename T>
inline void affine_kernel(const T* src, const ImageView& v, const Affine& m, int64_t oh, int64_t ow,
                          FillMode mode, float fill, float* dst) {
  const int64_t plane = oh * ow;
  for (int64_t y = 0; y < oh; ++y) {
    for (int64_t x = 0; x < ow; ++x) {
      const double xi = m[0] * x + m[1] * y + m[2];
      const double yi = m[3] * x + m[4] * y + m[5];
      // floor without libm (SSE2 has no rounding instruction); huge values are caught below
      const double tx = static_cast<double>(static_cast<int64_t>(std::max(std::min(xi, 1e15), -1e15)));
      const double ty = static_cast<double>(static_cast<int64_t>(std::max(std::min(yi, 1e15), -1e15)));
      const double fx0 = tx > xi ? tx - 1 : tx, fy0 = ty > yi ? ty - 1 : ty;
      const float ax = static_cast<float>(xi - fx0), ay = static_cast<float>(yi - fy0);
      float* out = dst + y * ow + x;
      // Guard against huge coordinates before converting to integers.
      if (!(std::fabs(fx0) < 1e9 && std::fabs(fy0) < 1e9)) {
        for (int64_t c = 0; c < v.C; ++c) out[c * plane] = fill;
        continue;
      }
      const auto x0 = static_cast<int64_t>(fx0), y0 = static_cast<int64_t>(fy0);
      const float w00 = (1 - ax) * (1 - ay), w01 = ax * (1 - ay), w10 = (1 - ax) * ay, w11 = ax * ay;
      if (x0 >= 0 && y0 >= 0 && x0 + 1 < v.W && y0 + 1 < v.H) {
        const T* p = src + y0 * v.sy + x0 * v.sx;
        for (int64_t c = 0; c < v.C; ++c) {
          const T* q = p + c * v.sc;
          out[c * plane] = w00 * q[0] + w01 * q[v.sx] + w10 * q[v.sy] + w11 * q[v.sy + v.sx];
        }
        continue;
      }
      const int64_t xs[2] = {fill_index(x0, v.W, mode), fill_index(x0 + 1, v.W, mode)};
      const int64_t ys[2] = {fill_index(y0, v.H, mode), fill_index(y0 + 1, v.H, mode)};
      const float ws[2][2] = {{w00, w01}, {w10, w11}};
      for (int64_t c = 0; c < v.C; ++c) {
        float acc = 0.f;
        for (int j = 0; j < 2; ++j)
          for (int i = 0; i < 2; ++i)
            acc += ws[j][i] * ((xs[i] < 0 || ys[j] < 0) ? fill
                                                         : static_cast<float>(src[ys[j] * v.sy + xs[i] * v.sx + c * v.sc]));
        out[c * plane] = acc;
      }
    }
  }
}

torch::Tensor affine(const torch::Tensor& image, const Affine& m, int64_t oh, int64_t ow, FillMode mode, float fill);

/// Image height and width of HWC uint8 / CHW float.
std::pair<int64_t, int64_t> image_hw(const torch::Tensor& image);

}  // namespace detail
}  // namespace tlearn
