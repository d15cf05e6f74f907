#pragma once
// Everything of onestep: engine, nn, run, diffusion and distill (link onestep::distill).

#include "onestep/diffusion.h"
#include "onestep/distill.h"
#include "onestep/engine.h"
#include "onestep/nn.h"
#include "onestep/run.h"
