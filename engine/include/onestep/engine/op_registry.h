#pragma once
// The names of every differentiable op of the engine. The gradient-check table must have a row
// for each (tests/engine/test_gradcheck_table.cpp fails otherwise), and autograd::record refuses
// a backward under a name that is not here: add an op here when you add it to the engine, and
// its row with it.

#include <string>
#include <vector>

namespace onestep {

const std::vector<std::string>& differentiable_ops();

// An op of your own that records a backward with autograd::record (a custom differentiable op
// outside the engine): its name must be registered first, so that an unregistered (untested)
// name is an error at its first use. Registering an engine op's name again is harmless.
void register_differentiable_op(const std::string& name);
// Whether autograd::record accepts `name`: an engine op or a registered one.
bool is_registered_op(const std::string& name);

}  // namespace onestep
