#pragma once
/// \file
/// Loads the weights a backbone's options name: "imagenet" or a weights tag
/// through the download cache, or a file. Official torchvision checkpoints load
/// as they are; the top is skipped without include_top, the last layer is left
/// freshly initialised when `classes` differs, and in_chans != 3 adapts the
/// first conv (timm's rule).

#include <filesystem>
#include <string>

#include "tlearn/core/error.hpp"
#include "tlearn/models/backbone.hpp"

namespace tlearn {

/// Where the file for `model`'s weights option is: the cache (downloading it when
/// needed) for "imagenet" or a tag, else the path itself.
std::filesystem::path resolve_weights_file(const BackboneImpl& model);

/// Loads the weights named by model.options().weights() into `model`.
void load_pretrained(BackboneImpl& model);

}  // namespace tlearn
