#pragma once
// The names of every differentiable op of the engine. The gradient-check table must have a row
// for each (tests/engine/test_gradcheck_table.cpp fails otherwise): add an op here when you add
// it to the engine.

#include <string>
#include <vector>

namespace onestep {

const std::vector<std::string>& differentiable_ops();

}  // namespace onestep
