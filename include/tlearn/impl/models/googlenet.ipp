// Implementation of tlearn/models/googlenet.hpp.
#include "tlearn/models/googlenet.hpp"

namespace tlearn {

GoogLeNetImpl::GoogLeNetImpl(const GoogLeNetConfig&, const ModelSpec& spec, const BackboneOptions& options)
    : BackboneImpl(spec, options), transform_input_(detail::inception_transform_input_on(spec, options)) {
  using detail::googlenet_block;
  using detail::inception_conv;
  auto pool = [](const std::string& name, int64_t kernel) {
    return detail::inception_pool(InceptionOp::Kind::MaxPool, name, kernel, 2, 0, /*ceil_mode=*/true);
  };
  trunk_.add_op(*this, inception_conv("conv1", options.in_chans(), 64, 7, 2, 3), table_);
  trunk_.add_op(*this, pool("maxpool1", 3), table_);
  trunk_.add_op(*this, inception_conv("conv2", 64, 64, 1), table_);
  trunk_.add_op(*this, inception_conv("conv3", 64, 192, 3, 1, 1), table_);
  trunk_.add_op(*this, pool("maxpool2", 3), table_);
  trunk_.add_block(*this, "inception3a", googlenet_block(192, 64, 96, 128, 16, 32, 32), table_);
  trunk_.add_block(*this, "inception3b", googlenet_block(256, 128, 128, 192, 32, 96, 64), table_);
  trunk_.add_op(*this, pool("maxpool3", 3), table_);
  trunk_.add_block(*this, "inception4a", googlenet_block(480, 192, 96, 208, 16, 48, 64), table_);
  trunk_.add_block(*this, "inception4b", googlenet_block(512, 160, 112, 224, 24, 64, 64), table_);
  trunk_.add_block(*this, "inception4c", googlenet_block(512, 128, 128, 256, 24, 64, 64), table_);
  trunk_.add_block(*this, "inception4d", googlenet_block(512, 112, 144, 288, 32, 64, 64), table_);
  trunk_.add_block(*this, "inception4e", googlenet_block(528, 256, 160, 320, 32, 128, 128), table_);
  trunk_.add_op(*this, pool("maxpool4", 2), table_);
  trunk_.add_block(*this, "inception5a", googlenet_block(832, 256, 160, 320, 32, 128, 128), table_);
  trunk_.add_block(*this, "inception5b", googlenet_block(832, 384, 192, 384, 48, 128, 128), table_);
  feature_info_ = {{"conv1", 64, 2},
                   {"conv3", 192, 4},
                   {"inception3b", 480, 8},
                   {"inception4e", 832, 16},
                   {"inception5b", 1024, 32}};
  output_channels_ = 1024;

  if (options.include_top()) {
    fc_ = register_module("fc", nn::Linear(1024, options.classes()));
    top_.pool("avgpool", "avg_pool").flatten("flatten").dropout(drop_rate_or(0.2), "dropout");
    top_.module("fc", fc_, "predictions").add_rows(table_);
  }
  detail::init_inception(*this, 0.01);
}

torch::Tensor GoogLeNetImpl::forward_body(torch::Tensor x) {
  if (transform_input_) x = detail::inception_transform_input(x);
  return trunk_.forward(std::move(x));
}

}  // namespace tlearn
