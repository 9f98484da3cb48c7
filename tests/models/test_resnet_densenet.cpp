// Parity and family-specific tests for the resnet_densenet group of backbones.
#include "../model_parity.hpp"

using namespace tlearn::test;
namespace tl = tlearn;
