#pragma once
// Everything of onestep::distill (and, through its headers, the libraries below it).

#include "onestep/distill/discriminator_head.h"
#include "onestep/distill/distill.h"
#include "onestep/distill/divergence.h"
#include "onestep/distill/generator_loss.h"
#include "onestep/distill/methods.h"
#include "onestep/distill/sim.h"
#include "onestep/distill/uni_instruct.h"
