// Data parallelism on two MPI ranks (run by tests/run/mpirun_test.sh under mpirun -np 2, in a
// build with ONESTEP_MPI): two ranks reproduce one process's run of the same global batch, the
// data shards cover the stream, a checkpoint of two ranks resumes bit-exactly on two and on
// one, and the ranks refuse to start from different networks.
//
// Every rank runs every test, in the same order, so that their collectives pair up; the
// one-process runs each rank does alone (ScopedProcessGroup of a single process) need none.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "onestep/diffusion/teacher.h"
#include "onestep/distill/distill.h"
#include "onestep/engine.h"
#include "onestep/nn/safetensors.h"
#include "onestep/run/process_group.h"
#include "onestep/run/run.h"
#include "testing/gradcheck.h"

namespace onestep {
namespace {

using diffusion::TeacherOptions;
using distill::DistillOptions;
using run::process_group;
using run::ScopedProcessGroup;
using run::single_process_group;
using run::StopSignal;

// A folder every rank names alike (rank 0's choice), emptied.
std::string shared_dir(const std::string& name) {
  std::string dir;
  if (process_group().rank() == 0) {
    dir = (std::filesystem::path(::testing::TempDir()) /
           ("onestep_dp_" + name + "_" + std::to_string(::getpid())))
              .string();
    std::filesystem::remove_all(dir);
  }
  process_group().broadcast(dir, 0);
  return dir;
}

// A folder of this rank alone.
std::string own_dir(const std::string& name) {
  const std::string dir = (std::filesystem::path(::testing::TempDir()) /
                           ("onestep_dp_" + name + "_" + std::to_string(::getpid()) + "_rank" +
                            std::to_string(process_group().rank())))
                              .string();
  std::filesystem::remove_all(dir);
  return dir;
}

// The largest difference between two states' tensors relative to the tensor's scale, and
// whether every tensor that is not a network's or an optimizer's (random streams, data
// position, progress) is identical.
struct StateComparison {
  double max_relative = 0;
  std::string worst;
  bool counters_identical = true;
};

StateComparison compare_states(const std::string& a, const std::string& b,
                               bool counters_must_match = true) {
  const nn::SafetensorsContent x = nn::load_safetensors(a + "/state.safetensors");
  const nn::SafetensorsContent y = nn::load_safetensors(b + "/state.safetensors");
  StateComparison out;
  EXPECT_EQ(x.tensors.size(), y.tensors.size());
  for (const auto& [name, t] : x.tensors) {
    const Tensor u = y.at(name);
    if (!is_floating(t.dtype())) {
      if (t.to_vector<int64_t>() != u.to_vector<int64_t>()) {
        out.counters_identical = false;
        if (counters_must_match) ADD_FAILURE() << name << " differs";
      }
      continue;
    }
    const double scale = std::max(1.0, amax(abs(t.to(DType::f64))).item());
    const double relative = testing::max_abs_diff(t, u) / scale;
    if (relative > out.max_relative) {
      out.max_relative = relative;
      out.worst = name;
    }
  }
  return out;
}

void expect_identical_states(const std::string& a, const std::string& b) {
  const StateComparison c = compare_states(a, b);
  EXPECT_TRUE(c.counters_identical);
  EXPECT_EQ(c.max_relative, 0.0) << c.worst;
}

// Two ranks' average of per-rank gradients differs from one process's gradient of the whole
// batch by float rounding (the order of the sums differs), which Adam's first steps, dividing by
// tiny second moments, amplify. Measured: 1e-7 to 1.2e-6 relative (f-distill) in these runs.
constexpr double kRoundingTolerance = 1e-5;

void expect_within_rounding(const std::string& two_ranks, const std::string& one_rank,
                            const std::string& what) {
  const StateComparison c = compare_states(two_ranks, one_rank);
  EXPECT_TRUE(c.counters_identical) << what;
  EXPECT_LE(c.max_relative, kRoundingTolerance) << what << ": " << c.worst;
  if (process_group().rank() == 0)
    std::printf("%s: largest relative difference, two ranks vs one: %.3g (%s)\n", what.c_str(),
                c.max_relative, c.worst.c_str());
}

TeacherOptions toy_teacher(const std::string& out) {
  TeacherOptions o = diffusion::teacher_preset("toy");
  diffusion::teacher_option_table().apply_settings(
      "hidden=32 blocks=2 batch=64 total_images=1280 lr_warmup_images=256 "
      "ema_halflife_images=500 log_every_images=256 preview_samples=16",
      o);
  o.out = out;
  return o;
}

// A small U-Net with dropout on Fashion-MNIST: dropout masks are batch-sized draws too.
TeacherOptions unet_teacher(const std::string& out) {
  TeacherOptions o = diffusion::teacher_preset("fmnist-cpu");
  diffusion::teacher_option_table().apply_settings(
      "channels=8 channel-mult=1,1,2 blocks=1 attn=8 dropout=0.2 batch=8 "
      "total_images=48 log_every_images=16 preview_samples=0",
      o);
  o.out = out;
  return o;
}

// Runs `train` on two ranks into a shared folder and alone (on each rank) into its own.
template <class Options, class Train>
void two_ranks_and_one(const Options& options, const std::string& name, Train&& train,
                       std::string* two, std::string* one) {
  Options shared = options;
  shared.out = *two = shared_dir(name + "_two");
  StopSignal::clear();
  train(shared, false);
  Options alone = options;
  alone.out = *one = own_dir(name + "_one");
  ScopedProcessGroup single(single_process_group());
  train(alone, false);
}

TEST(DataParallel, TheGroupIsTwoMpiRanks) {
  EXPECT_EQ(process_group().size(), 2);
  EXPECT_EQ(process_group().transport().rfind("mpi", 0), 0u);
  EXPECT_TRUE(run::mpi_compiled());
}

TEST(DataParallel, TwoRanksReproduceOneProcessOnTheSameGlobalBatch) {
  const auto teacher = [](const TeacherOptions& o, bool resume) {
    return diffusion::train_teacher(o, resume);
  };
  std::string two, one;
  two_ranks_and_one(toy_teacher(""), "toy", teacher, &two, &one);
  expect_within_rounding(two, one, "toy teacher, 20 steps");
  // The check can fail: ranks that drew the same rows (no sharding) would train what one process
  // does on half the batch, far from the run on the whole batch.
  {
    ScopedProcessGroup single(single_process_group());
    TeacherOptions half = toy_teacher(own_dir("toy_half"));
    half.batch = 32;
    half.total_images = 640;
    diffusion::train_teacher(half, false);
    const StateComparison c = compare_states(two, half.out, false);
    EXPECT_GT(c.max_relative, 1e-2) << c.worst;
  }
  two_ranks_and_one(unet_teacher(""), "unet", teacher, &two, &one);
  expect_within_rounding(two, one, "U-Net teacher with dropout, 6 steps");
  // Rank 0 alone wrote the run's files.
  EXPECT_TRUE(run::file_exists(two + "/teacher.safetensors"));
  EXPECT_TRUE(run::file_exists(two + "/metrics.jsonl"));
}

TEST(DataParallel, TwoRanksReproduceOneProcessInEveryDistillationFamily) {
  // Each rank trains the same toy teacher on its own (deterministic: the same weights).
  std::string teacher_path;
  {
    ScopedProcessGroup single(single_process_group());
    TeacherOptions t = toy_teacher(own_dir("distill_teacher"));
    t.preview_samples = 0;
    StopSignal::clear();
    diffusion::train_teacher(t, false);
    teacher_path = t.out + "/teacher.safetensors";
  }
  const auto distill = [](const DistillOptions& o, bool resume) {
    return distill::distill(o, resume);
  };
  // uni-instruct: the discriminator, the normalised density ratio and the GAN term divided by
  // the batch mean of 1/nu; f-distill: h normalised over the batch; dmd2: regression pairs.
  for (const std::string method : {"uni-instruct", "f-distill", "dmd2"}) {
    DistillOptions o = distill::distill_preset("toy", method);
    distill::distill_option_table().apply_settings(
        "batch=32 total_images=320 generator_warmup_images=32 sim_only_images=64 "
        "regression_pairs=32 regression_steps=3 log_every_images=64 preview_samples=16 "
        "discriminator_sigma_weighting=lambda discriminator_head=learned",
        o);
    o.teacher = teacher_path;
    std::string two, one;
    two_ranks_and_one(o, "distill_" + method, distill, &two, &one);
    expect_within_rounding(two, one, method + " distillation, 10 iterations");
    EXPECT_TRUE(run::file_exists(two + "/generator.safetensors"));
  }
}

// --device cuda: each rank on the GPU of its local rank, the gradients averaged by NCCL (or
// through host memory in a build without it, as in the CUDA emulator with
// ONESTEP_CUDA_EMULATOR_DEVICES=2). Skipped unless every rank has its GPU.
TEST(DataParallel, TwoRanksOnGpusReproduceOneProcess) {
  bool usable = cuda::available();
  try {
    if (usable) run::rank_device(Device::cuda());
  } catch (const Error&) {
    usable = false;
  }
  if (run::on_any_rank(!usable)) GTEST_SKIP() << "needs a GPU for each of the two ranks";
  TeacherOptions o = toy_teacher("");
  o.device = Device::cuda();
  std::string two, one;
  two_ranks_and_one(
      o, "gpu",
      [](const TeacherOptions& x, bool resume) { return diffusion::train_teacher(x, resume); },
      &two, &one);
  expect_within_rounding(two, one, "toy teacher on GPUs, 20 steps");
}

TEST(DataParallel, TheShardsOfTheDataStreamAreDisjointAndCoverIt) {
  for (const std::string spec : {"toy:25gaussians", "fashion-mnist"}) {
    const diffusion::DataOptions options{7, true, false};
    auto shard =
        diffusion::shard_data(diffusion::open_dataset(spec, options), process_group().rank(), 2);
    auto whole = diffusion::open_dataset(spec, options);
    for (int step = 0; step < 3; ++step) {
      const diffusion::Batch mine = shard->next_batch(6);
      // Every rank gets both ranks' rows, in rank order.
      std::vector<Tensor> xs, labels;
      for (int root = 0; root < 2; ++root) {
        const Tensor x = mine.x.contiguous(), y = mine.labels.contiguous();
        std::string bytes(static_cast<const char*>(x.raw_data()),
                          static_cast<size_t>(x.numel()) * sizeof(float));
        std::string label_bytes(static_cast<const char*>(y.raw_data()),
                                static_cast<size_t>(y.numel()) * sizeof(int64_t));
        process_group().broadcast(bytes, root);
        process_group().broadcast(label_bytes, root);
        xs.push_back(from_host(bytes.data(), DType::f32, x.shape()));
        labels.push_back(from_host(label_bytes.data(), DType::i64, y.shape()));
      }
      const diffusion::Batch all = whole->next_batch(12);
      EXPECT_EQ(concat(xs, 0).to_vector<float>(), all.x.to_vector<float>()) << spec;
      EXPECT_EQ(concat(labels, 0).to_vector<int64_t>(), all.labels.to_vector<int64_t>()) << spec;
      EXPECT_EQ(shard->state(), whole->state()) << spec;
    }
  }
}

TEST(DataParallel, ACheckpointOfTwoRanksResumesBitExactlyOnTwoAndWithinRoundingOnOne) {
  const auto teacher = [](const TeacherOptions& o, bool resume) {
    return diffusion::train_teacher(o, resume);
  };
  std::string straight, alone;
  two_ranks_and_one(toy_teacher(""), "resume_straight", teacher, &straight, &alone);

  // Two ranks: 7 steps, then resumed to the end on two ranks.
  TeacherOptions halves = toy_teacher(shared_dir("resume_halves"));
  halves.total_images = 64 * 7;
  StopSignal::clear();
  diffusion::train_teacher(halves, false);
  TeacherOptions rest = diffusion::read_teacher_config(halves.out);
  rest.total_images = 1280;
  diffusion::train_teacher(rest, true);
  expect_identical_states(straight, halves.out);

  // Two ranks, then one (re-sharded: the state does not depend on the rank count).
  TeacherOptions first = toy_teacher(shared_dir("resume_two_then_one"));
  first.total_images = 64 * 7;
  diffusion::train_teacher(first, false);
  run::barrier();
  const std::string copy = own_dir("resume_two_then_one");
  std::filesystem::copy(first.out, copy);
  {
    ScopedProcessGroup single(single_process_group());
    TeacherOptions rest_alone = diffusion::read_teacher_config(copy);
    rest_alone.out = copy;
    rest_alone.total_images = 1280;
    diffusion::train_teacher(rest_alone, true);
  }
  expect_within_rounding(straight, copy, "toy teacher, 7 steps on two ranks then 13 on one");
}

TEST(DataParallel, RanksThatHoldDifferentNetworksRefuseToStart) {
  // Rank 1 resumes from a different run than rank 0 (as on two hosts whose copies differ).
  const std::string dir = own_dir("different");
  const int rank = process_group().rank();
  {
    ScopedProcessGroup single(single_process_group());
    TeacherOptions o = toy_teacher(dir);
    o.total_images = 64 * (2 + rank);
    o.seed = 1;
    StopSignal::clear();
    diffusion::train_teacher(o, false);
  }
  TeacherOptions rest = diffusion::read_teacher_config(dir);
  rest.total_images = 1280;
  try {
    diffusion::train_teacher(rest, true);
    ADD_FAILURE() << "ranks with different networks trained";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("do not hold the same networks"), std::string::npos)
        << e.what();
  }
}

TEST(DataParallel, AGlobalBatchTheRanksCannotShareIsRefused) {
  TeacherOptions o = toy_teacher(shared_dir("odd_batch"));
  o.batch = 63;
  try {
    diffusion::check_teacher_options(o, false);
    ADD_FAILURE() << "batch 63 on 2 ranks was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("divide evenly among the 2 ranks"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace onestep

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  onestep::run::DataParallelSession session(&argc, &argv, 300);
  if (onestep::run::process_group().size() != 2) {
    std::fprintf(stderr, "test_data_parallel: run it under mpirun -np 2 (mpirun_test.sh)\n");
    return 1;
  }
  const int failed = RUN_ALL_TESTS();
  // One verdict for both ranks.
  return onestep::run::on_any_rank(failed != 0) ? 1 : 0;
}
