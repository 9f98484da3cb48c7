#pragma once
// tlearn: transfer learning for C++ on LibTorch. Include this one header.
// An alphabetised list of the public headers, nothing else.

#include "tlearn/core/batch_norm.hpp"
#include "tlearn/core/error.hpp"
<<<<<<< HEAD
#include "tlearn/core/freeze.hpp"
#include "tlearn/core/layer_table.hpp"
#include "tlearn/core/selector.hpp"
#include "tlearn/core/tap.hpp"
=======
#include "tlearn/data/augment.hpp"
#include "tlearn/data/dataset.hpp"
#include "tlearn/data/fashion_mnist.hpp"
#include "tlearn/data/grid.hpp"
#include "tlearn/data/image_folder.hpp"
>>>>>>> data
#include "tlearn/data/imagenet.hpp"
#include "tlearn/data/loader.hpp"
#include "tlearn/data/preprocess.hpp"
<<<<<<< HEAD
#include "tlearn/io/checkpoint.hpp"
#include "tlearn/io/hub.hpp"
#include "tlearn/io/pth.hpp"
#include "tlearn/io/safetensors.hpp"
#include "tlearn/io/state_dict.hpp"
#include "tlearn/models/backbone.hpp"
#include "tlearn/models/layers.hpp"
#include "tlearn/models/pretrained.hpp"
#include "tlearn/models/registry.hpp"
#include "tlearn/models/spec.hpp"
#include "tlearn/models/vgg.hpp"
=======
#include "tlearn/data/transforms.hpp"
#include "tlearn/io/image.hpp"
>>>>>>> data
