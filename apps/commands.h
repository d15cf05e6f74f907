#pragma once
// Subcommands of the onestep command. Each registers its flags on the CLI11 app and returns the
// function that runs it once parsing succeeded.

#include <CLI/CLI.hpp>
#include <functional>

namespace onestep::app {

using Run = std::function<int()>;

Run add_demo_command(CLI::App& app);
Run add_teacher_command(CLI::App& app);
Run add_sample_command(CLI::App& app);

}  // namespace onestep::app
