#pragma once
// tlearn: transfer learning for C++ on LibTorch. Include this one header.
// An alphabetised list of the public headers, nothing else.

#include "tlearn/core/error.hpp"
#include "tlearn/data/augment.hpp"
#include "tlearn/data/dataset.hpp"
#include "tlearn/data/fashion_mnist.hpp"
#include "tlearn/data/grid.hpp"
#include "tlearn/data/image_folder.hpp"
#include "tlearn/data/imagenet.hpp"
#include "tlearn/data/loader.hpp"
#include "tlearn/data/preprocess.hpp"
#include "tlearn/data/transforms.hpp"
#include "tlearn/io/image.hpp"
