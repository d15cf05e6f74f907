#pragma once
// Everything of onestep::diffusion (and, through its headers, the libraries below it).

#include "onestep/diffusion/datasets.h"
#include "onestep/diffusion/edm.h"
#include "onestep/diffusion/feature_net.h"
#include "onestep/diffusion/image_folder.h"
#include "onestep/diffusion/image_io.h"
#include "onestep/diffusion/image_metrics.h"
#include "onestep/diffusion/metrics2d.h"
#include "onestep/diffusion/model_config.h"
#include "onestep/diffusion/npy.h"
#include "onestep/diffusion/sample_quality.h"
#include "onestep/diffusion/sampler.h"
#include "onestep/diffusion/teacher.h"
#include "onestep/run.h"
