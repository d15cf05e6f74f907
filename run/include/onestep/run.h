#pragma once
// Everything of onestep::run (and, through its headers, the libraries below it).

#include "onestep/run/nonfinite_steps.h"
#include "onestep/run/option_table.h"
#include "onestep/run/process_group.h"
#include "onestep/run/run.h"
#include "onestep/run/training_loop.h"
#include "onestep/run/training_state.h"
