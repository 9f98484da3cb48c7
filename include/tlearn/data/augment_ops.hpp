#pragma once
/// \file
/// The elementary image operations of AutoAugment, RandAugment, TrivialAugment
/// and AugMix, on (C, H, W) uint8 images, with torchvision.transforms.functional's
/// semantics on tensors: the same pixels out for the same image and magnitude.
///
///     auto out = tlearn::data::ops::solarize(tlearn::data::ops::rotate(img, 15.0), 128);

#include <torch/torch.h>

#include <string>
#include <vector>

namespace tlearn::data::ops {

/// Blends with black: factor 0 is black, 1 the image (torchvision adjust_brightness).
torch::Tensor brightness(const torch::Tensor& img, double factor);
/// Blends with the mean grey level (adjust_contrast).
torch::Tensor contrast(const torch::Tensor& img, double factor);
/// Blends with the greyscale image (adjust_saturation; PIL's "Color").
torch::Tensor color(const torch::Tensor& img, double factor);
/// Blends with a 3x3 smoothed image, borders kept (adjust_sharpness).
torch::Tensor sharpness(const torch::Tensor& img, double factor);
/// Keeps the `bits` high bits of each value.
torch::Tensor posterize(const torch::Tensor& img, int64_t bits);
/// Inverts values at or above `threshold`.
torch::Tensor solarize(const torch::Tensor& img, double threshold);
/// Stretches each channel to 0..255.
torch::Tensor autocontrast(const torch::Tensor& img);
/// Equalizes each channel's histogram (PIL's ImageOps.equalize).
torch::Tensor equalize(const torch::Tensor& img);
/// 255 - value.
torch::Tensor invert(const torch::Tensor& img);

/// An affine map with nearest-neighbour sampling (torchvision affine on tensors):
/// rotation and shear in degrees, translation in pixels, about `center` (pixels;
/// default the image centre). Pixels from outside take `fill` (one value, or one
/// per channel; empty: 0).
torch::Tensor affine(const torch::Tensor& img, double angle, std::vector<double> translate, double scale,
                     std::vector<double> shear, std::vector<double> fill = {}, std::vector<double> center = {});
/// Counter-clockwise rotation by `degrees` about the centre (torchvision rotate).
torch::Tensor rotate(const torch::Tensor& img, double degrees, std::vector<double> fill = {});
/// AutoAugment's shears: x' = x + m y about the top-left corner (magnitude m = tan of the angle).
torch::Tensor shear_x(const torch::Tensor& img, double magnitude, std::vector<double> fill = {});
torch::Tensor shear_y(const torch::Tensor& img, double magnitude, std::vector<double> fill = {});
/// Shifts by whole pixels (magnitudes are truncated, as torchvision does).
torch::Tensor translate_x(const torch::Tensor& img, double pixels, std::vector<double> fill = {});
torch::Tensor translate_y(const torch::Tensor& img, double pixels, std::vector<double> fill = {});

}  // namespace tlearn::data::ops
