#pragma once
// Everything of onestep::nn (and, through its headers, the libraries below it).

#include "onestep/nn/atomic_file.h"
#include "onestep/nn/dhariwal_unet.h"
#include "onestep/nn/ema.h"
#include "onestep/nn/grad_utils.h"
#include "onestep/nn/layers.h"
#include "onestep/nn/module.h"
#include "onestep/nn/named_tensors.h"
#include "onestep/nn/noise_conditioned_net.h"
#include "onestep/nn/optimizer.h"
#include "onestep/nn/safetensors.h"
#include "onestep/nn/song_unet.h"
#include "onestep/nn/toy_mlp.h"
#include "onestep/nn/unet_block.h"
