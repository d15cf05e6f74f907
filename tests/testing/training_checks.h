#pragma once
// Checks shared by the teacher's and the distillation's tests: the loop a caller steps
// (TeacherTraining, DistillTraining) is the loop a run takes.

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "testing/gradcheck.h"

namespace onestep::testing {

// Steps `training` (TeacherTraining, DistillTraining: step() and images()) until it has seen
// `images` images, a whole number of steps, and checks that every (name, tensor) of `network`'s
// state_dict() then equals, bit for bit, the entry prefix + name of `saved`: the checkpoint a run
// of the same options wrote (anything with at(name)).
template <class Training, class Network, class Saved>
void expect_stepping_reproduces(Training& training, int64_t images, const Network& network,
                                const Saved& saved, const std::string& prefix) {
  while (training.images() < images) training.step();
  EXPECT_EQ(training.images(), images);
  const auto trained = network.state_dict();
  ASSERT_FALSE(trained.empty());
  for (const auto& [name, tensor] : trained)
    EXPECT_EQ(max_abs_diff(tensor, saved.at(prefix + name)), 0.0) << name;
}

}  // namespace onestep::testing
