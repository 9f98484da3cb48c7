// Parity and family-specific tests for the efficientnet_convnext group of backbones.
#include "../model_parity.hpp"

using namespace tlearn::test;
namespace tl = tlearn;
