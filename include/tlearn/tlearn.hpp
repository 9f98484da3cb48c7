#pragma once
// tlearn: transfer learning for C++ on LibTorch. Include this one header.
// An alphabetised list of the public headers, nothing else.

#include "tlearn/core/error.hpp"
#include "tlearn/data/imagenet.hpp"
#include "tlearn/data/preprocess.hpp"
#include "tlearn/io/checkpoint.hpp"
#include "tlearn/io/hub.hpp"
#include "tlearn/io/pth.hpp"
#include "tlearn/io/safetensors.hpp"
#include "tlearn/io/state_dict.hpp"
