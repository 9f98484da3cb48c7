// Compile-time row: torchvision's resnet18 written by hand against torch/torch.h,
// what a LibTorch user writes without tlearn.
#include <torch/torch.h>

namespace nn = torch::nn;

struct BasicBlockImpl : nn::Module {
  nn::Conv2d conv1{nullptr}, conv2{nullptr};
  nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  nn::Sequential downsample{nullptr};
  BasicBlockImpl(int64_t in, int64_t out, int64_t stride) {
    conv1 = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(false)));
    bn1 = register_module("bn1", nn::BatchNorm2d(out));
    conv2 = register_module("conv2", nn::Conv2d(nn::Conv2dOptions(out, out, 3).padding(1).bias(false)));
    bn2 = register_module("bn2", nn::BatchNorm2d(out));
    if (stride != 1 || in != out)
      downsample = register_module("downsample", nn::Sequential(
          nn::Conv2d(nn::Conv2dOptions(in, out, 1).stride(stride).bias(false)), nn::BatchNorm2d(out)));
  }
  torch::Tensor forward(torch::Tensor x) {
    auto identity = downsample ? downsample->forward(x) : x;
    auto y = torch::relu(bn1(conv1(x)));
    y = bn2(conv2(y));
    return torch::relu(y + identity);
  }
};
TORCH_MODULE(BasicBlock);

struct ResNet18Impl : nn::Module {
  nn::Conv2d conv1{nullptr};
  nn::BatchNorm2d bn1{nullptr};
  nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  ResNet18Impl() {
    conv1 = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(3, 64, 7).stride(2).padding(3).bias(false)));
    bn1 = register_module("bn1", nn::BatchNorm2d(64));
    layer1 = register_module("layer1", nn::Sequential(BasicBlock(64, 64, 1), BasicBlock(64, 64, 1)));
    layer2 = register_module("layer2", nn::Sequential(BasicBlock(64, 128, 2), BasicBlock(128, 128, 1)));
    layer3 = register_module("layer3", nn::Sequential(BasicBlock(128, 256, 2), BasicBlock(256, 256, 1)));
    layer4 = register_module("layer4", nn::Sequential(BasicBlock(256, 512, 2), BasicBlock(512, 512, 1)));
  }
  torch::Tensor forward(torch::Tensor x) {
    x = torch::max_pool2d(torch::relu(bn1(conv1(x))), 3, 2, 1);
    return layer4->forward(layer3->forward(layer2->forward(layer1->forward(x))));
  }
};
TORCH_MODULE(ResNet18);

int main() {
  ResNet18 model;
  return model->forward(torch::zeros({1, 3, 64, 64})).dim() == 4 ? 0 : 1;
}
