// Datasets: toy statistics and shapes; epoch permutations, hflip, reference samples and
// state()/restore() of the image stream.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "dataset_test_support.h"
#include "onestep/diffusion/datasets.h"
#include "onestep/diffusion/image_io.h"
#include "onestep/engine.h"
#include "onestep/nn/atomic_file.h"

namespace onestep::diffusion {
namespace {

using namespace testing_support;

// ------------------------------------------------------------------------------------- toys

// Draws n points of a mixture of equal isotropic Gaussians and checks that each lies near one
// of `means`, every mode holds 1/modes of them (within `share_tol`), and the per-coordinate
// standard deviation about the nearest mean is 0.05.
void expect_equal_modes_with_std005(const std::string& spec, uint64_t seed, int64_t n,
                                    const std::vector<std::pair<double, double>>& means,
                                    double share_tol) {
  auto data = open_dataset(spec, opts(seed));
  const auto xy = data->next_batch(n).x.to_vector<float>();
  std::vector<int64_t> count(means.size(), 0);
  double sum_sq = 0.0;
  for (size_t i = 0; i < xy.size(); i += 2) {
    size_t nearest = 0;
    double nearest_distance = INFINITY;
    for (size_t k = 0; k < means.size(); ++k) {
      const double distance = std::hypot(xy[i] - means[k].first, xy[i + 1] - means[k].second);
      if (distance < nearest_distance) nearest = k, nearest_distance = distance;
    }
    ASSERT_LT(nearest_distance, 0.4) << spec << ": a sample far from every mean";
    sum_sq += nearest_distance * nearest_distance;
    ++count[nearest];
  }
  for (int64_t c : count)
    EXPECT_NEAR(static_cast<double>(c) / n, 1.0 / static_cast<double>(means.size()), share_tol)
        << spec;
  EXPECT_NEAR(std::sqrt(sum_sq / (2.0 * n)), 0.05, 0.001) << spec;
}

TEST(Toys, Gaussians25HaveEqualModesWithStd005) {
  std::vector<std::pair<double, double>> grid;
  for (int x = -2; x <= 2; ++x)
    for (int y = -2; y <= 2; ++y) grid.emplace_back(x, y);
  expect_equal_modes_with_std005("toy:25gaussians", 11, 50000, grid, 0.0045);  // ~5 sigma
}

TEST(Toys, Gaussians8SitOnTheCircleOfRadius2) {
  std::vector<std::pair<double, double>> circle;
  for (int k = 0; k < 8; ++k)
    circle.emplace_back(2 * std::cos(2 * M_PI * k / 8), 2 * std::sin(2 * M_PI * k / 8));
  expect_equal_modes_with_std005("toy:8gaussians", 2, 40000, circle, 0.01);
}

TEST(Toys, ShapesMatchTheirDefinitions) {
  Rng gen(9);
  // checkerboard: uniform on the cells [i, i+1) x [j, j+1) of [-2, 2)^2 with i + j even.
  auto xy = sample_toy("checkerboard", 20000, gen).to_vector<float>();
  std::map<std::pair<int, int>, int> cells;
  for (size_t i = 0; i < xy.size(); i += 2) {
    ASSERT_GE(xy[i], -2.f);
    ASSERT_LT(xy[i], 2.f);
    ASSERT_GE(xy[i + 1], -2.f);
    ASSERT_LT(xy[i + 1], 2.f);
    const int cx = static_cast<int>(std::floor(xy[i])),
              cy = static_cast<int>(std::floor(xy[i + 1]));
    ASSERT_EQ(((cx + cy) % 2 + 2) % 2, 0) << xy[i] << ", " << xy[i + 1];
    ++cells[{cx, cy}];
  }
  EXPECT_EQ(cells.size(), 8u);
  for (const auto& [cell, n] : cells) EXPECT_NEAR(n / 20000.0, 1.0 / 8, 0.015);

  // moons: near one of the two arcs after undoing the centring and scaling.
  xy = sample_toy("moons", 5000, gen).to_vector<float>();
  int upper = 0;
  for (size_t i = 0; i < xy.size(); i += 2) {
    const double x = xy[i] * 0.75 + 0.5, y = xy[i + 1] * 0.75 + 0.25;
    const double d_upper = std::abs(std::hypot(x, y) - 1.0) + (y < -0.2 ? 1.0 : 0.0);
    const double d_lower = std::abs(std::hypot(x - 1.0, y - 0.5) - 1.0) + (y > 0.7 ? 1.0 : 0.0);
    ASSERT_LT(std::min(d_upper, d_lower), 0.25) << x << ", " << y;
    upper += d_upper < d_lower;
  }
  EXPECT_NEAR(upper / 5000.0, 0.5, 0.05);

  // swiss roll: near the curve s (t cos t, t sin t), t in [1.5 pi, 4.5 pi], s = 2 / (4.5 pi).
  xy = sample_toy("swissroll", 2000, gen).to_vector<float>();
  const double s = 2.0 / (4.5 * M_PI);
  for (size_t i = 0; i < xy.size(); i += 2) {
    double best = 1e9;
    for (int k = 0; k <= 3000; ++k) {
      const double t = 1.5 * M_PI * (1.0 + 2.0 * k / 3000.0);
      best =
          std::min(best, std::hypot(xy[i] - s * t * std::cos(t), xy[i + 1] - s * t * std::sin(t)));
    }
    ASSERT_LT(best, 0.3);
  }
}

TEST(Toys, EveryToyIsDeterministicAndInRange) {
  for (const std::string& name : toy_dataset_names()) {
    SCOPED_TRACE(name);
    auto a = open_dataset("toy:" + name, opts(3));
    auto b = open_dataset("toy:" + name, opts(3));
    auto c = open_dataset("toy:" + name, opts(4));
    const DatasetInfo& info = a->info();
    EXPECT_EQ(info.name, "toy:" + name);
    EXPECT_EQ(info.spec, "toy:" + name);
    EXPECT_TRUE(info.is_2d);
    EXPECT_EQ(info.size, 0);
    // The mixtures are labelled by their mode, the moons by their moon.
    const int64_t classes = name == "8gaussians"    ? 8
                            : name == "25gaussians" ? 25
                            : name == "moons"       ? 2
                                                    : 0;
    EXPECT_EQ(info.num_classes, classes);
    const Batch batch = a->next_batch(4000);
    EXPECT_EQ(batch.x.shape(), (Shape{4000, 2}));
    EXPECT_EQ(batch.x.dtype(), DType::f32);
    EXPECT_EQ(batch.labels.defined(), classes > 0);
    if (classes > 0) {
      const std::vector<int64_t> labels = batch.labels.to_vector<int64_t>();
      EXPECT_EQ(*std::min_element(labels.begin(), labels.end()), 0);
      EXPECT_EQ(*std::max_element(labels.begin(), labels.end()), classes - 1);
    }
    const auto xy = batch.x.to_vector<float>();
    for (float v : xy) ASSERT_LE(std::abs(v), 2.5f);
    EXPECT_EQ(b->next_batch(4000).x.to_vector<float>(), xy);
    EXPECT_NE(c->next_batch(4000).x.to_vector<float>(), xy);
    EXPECT_NE(a->next_batch(4000).x.to_vector<float>(), xy);  // fresh samples each batch
  }
}

// Each point lies on the mode (moon) its label names.
TEST(Toys, LabelsNameTheModeOfEachPoint) {
  Rng gen(5);
  Batch b = sample_toy_batch("25gaussians", 2000, gen);
  std::vector<float> xy = b.x.to_vector<float>();
  std::vector<int64_t> k = b.labels.to_vector<int64_t>();
  for (size_t i = 0; i < k.size(); ++i) {
    ASSERT_NEAR(xy[2 * i], static_cast<float>(k[i] / 5 - 2), 0.3f);
    ASSERT_NEAR(xy[2 * i + 1], static_cast<float>(k[i] % 5 - 2), 0.3f);
  }
  b = sample_toy_batch("8gaussians", 2000, gen);
  xy = b.x.to_vector<float>();
  k = b.labels.to_vector<int64_t>();
  for (size_t i = 0; i < k.size(); ++i) {
    const double angle = 2 * M_PI * static_cast<double>(k[i]) / 8;
    ASSERT_LT(std::hypot(xy[2 * i] - 2 * std::cos(angle), xy[2 * i + 1] - 2 * std::sin(angle)),
              0.3);
  }
  // The same points as sample_toy draws from the same stream.
  Rng g1(9), g2(9);
  EXPECT_EQ(sample_toy_batch("moons", 100, g1).x.to_vector<float>(),
            sample_toy("moons", 100, g2).to_vector<float>());
  EXPECT_FALSE(sample_toy_batch("swissroll", 10, g1).labels.defined());
}

TEST(Toys, StateRestoreAndReferenceSamples) {
  auto a = open_dataset("toy:moons", opts(5));
  a->next_batch(100);
  const std::vector<int64_t> state = a->state();
  const auto next = a->next_batch(64).x.to_vector<float>();
  auto b = open_dataset("toy:moons", opts(77));
  b->restore(state);  // the seed comes with the state
  EXPECT_EQ(b->next_batch(64).x.to_vector<float>(), next);

  // Reference samples come from the caller's generator and leave the stream alone.
  a->restore(state);
  Rng g1(1), g2(1);
  const auto ref = a->reference_sample(500, g1).x.to_vector<float>();
  EXPECT_EQ(a->next_batch(64).x.to_vector<float>(), next);
  EXPECT_EQ(a->reference_sample(500, g2).x.to_vector<float>(), ref);

  expect_error([&] { a->restore({}); }, {"not the state of a toy"});
  expect_error([&] { open_dataset("toy:8gaussians")->restore(state); },
               {"the state is for 'toy:moons'", "'toy:8gaussians'"});
  std::vector<int64_t> bad = state;
  bad[3] = -1;
  expect_error([&] { a->restore(bad); }, {"offset"});
  expect_error([&] { a->next_batch(0); }, {"positive"});
}

TEST(OpenDataset, UnknownSpecsListTheValidOnes) {
  for (const std::string spec :
       {"toy:circles", "toy", "mnist", "cifar10", "cifar10:", "png:", "", "fashion-mnist:"}) {
    SCOPED_TRACE(spec);
    expect_error(
        [&] { open_dataset(spec); },
        {"unknown dataset '" + spec + "'", "toy:8gaussians", "toy:25gaussians", "toy:swissroll",
         "toy:checkerboard", "toy:moons", "fashion-mnist:DIR", "cifar10:DIR", "png:DIR"});
  }
}

// ------------------------------------------------------------------ image stream mechanics

// n images [1, H=2, W=3]; image i's first pixel is i (so a batch row names its source image),
// the others i * 7 + y * 3 + x + 1 (mod 256).
ImageSet tiny_set(int64_t n, bool labeled = true) {
  ImageSet set;
  set.info.name = "tiny";
  set.info.channels = 1;
  set.info.height = 2;
  set.info.width = 3;
  set.info.size = n;
  set.info.num_classes = labeled ? 10 : 0;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t p = 0; p < 6; ++p)
      set.pixels.push_back(static_cast<uint8_t>(p ? i * 7 + p + 1 : i));
    if (labeled) set.labels.push_back((i * 3) % 10);
  }
  return set;
}

// Source image of each row of a tiny-set batch, checking its pixels and label on the way;
// flipped[k] reports whether row k was mirrored.
std::vector<int64_t> identify(const Batch& batch, std::vector<bool>* flipped = nullptr) {
  const auto x = batch.x.to_vector<float>();
  const int64_t n = batch.x.size(0);
  std::vector<int64_t> ids;
  for (int64_t k = 0; k < n; ++k) {
    const float* img = x.data() + k * 6;
    // Unflipped rows start with i; mirrored rows end with it.
    int64_t id = unscaled(img[0]);
    bool is_flipped = false;
    auto matches = [&](int64_t i, bool mirror) {
      for (int64_t y = 0; y < 2; ++y)
        for (int64_t xx = 0; xx < 3; ++xx) {
          const int64_t p = y * 3 + (mirror ? 2 - xx : xx);
          const auto v = static_cast<uint8_t>(p ? i * 7 + p + 1 : i);
          if (img[y * 3 + xx] != scaled(v)) return false;
        }
      return true;
    };
    if (!matches(id, false)) {
      id = unscaled(img[2]);
      is_flipped = true;
      EXPECT_TRUE(matches(id, true))
          << "row " << k << " is neither image " << id << " nor its mirror image";
    }
    if (batch.labels.defined()) {
      EXPECT_EQ(batch.labels.to_vector<int64_t>()[k], (id * 3) % 10);
    }
    ids.push_back(id);
    if (flipped) flipped->push_back(is_flipped);
  }
  return ids;
}

std::vector<int64_t> take(DataSource& data, int64_t total, int64_t batch_size) {
  std::vector<int64_t> ids;
  while (static_cast<int64_t>(ids.size()) < total) {
    const auto part =
        identify(data.next_batch(std::min(batch_size, total - static_cast<int64_t>(ids.size()))));
    ids.insert(ids.end(), part.begin(), part.end());
  }
  return ids;
}

TEST(ImageStream, EpochsArePermutationsThatDependOnlyOnSeedAndEpoch) {
  auto a = make_image_source(tiny_set(10), opts(1));
  const Batch first = a->next_batch(7);
  EXPECT_EQ(first.x.shape(), (Shape{7, 1, 2, 3}));
  EXPECT_EQ(first.labels.shape(), Shape{7});
  EXPECT_EQ(first.labels.dtype(), DType::i64);
  std::vector<int64_t> ids = identify(first);
  const auto more = take(*a, 33, 7);  // wraps across epochs inside batches
  ids.insert(ids.end(), more.begin(), more.end());
  for (int e = 0; e < 4; ++e) {
    std::set<int64_t> epoch(ids.begin() + e * 10, ids.begin() + (e + 1) * 10);
    EXPECT_EQ(epoch.size(), 10u) << "epoch " << e << " is not a permutation";
  }
  // Another batch size gives the same order; another seed another one.
  auto b = make_image_source(tiny_set(10), opts(1));
  EXPECT_EQ(take(*b, 40, 3), ids);
  auto c = make_image_source(tiny_set(10), opts(2));
  EXPECT_NE(take(*c, 40, 10), ids);
  // Epochs differ from each other.
  EXPECT_NE(std::vector<int64_t>(ids.begin(), ids.begin() + 10),
            std::vector<int64_t>(ids.begin() + 10, ids.begin() + 20));
}

TEST(ImageStream, StateRestoreGivesAnIdenticalContinuation) {
  for (bool hflip : {false, true}) {
    auto a = make_image_source(tiny_set(10), opts(4, hflip));
    a->next_batch(13);
    const std::vector<int64_t> state = a->state();
    const Batch x1 = a->next_batch(25), x2 = a->next_batch(4);
    auto b = make_image_source(tiny_set(10), opts(99, hflip));
    b->next_batch(3);
    b->restore(state);
    EXPECT_EQ(b->next_batch(25).x.to_vector<float>(), x1.x.to_vector<float>());
    EXPECT_EQ(b->next_batch(4).x.to_vector<float>(), x2.x.to_vector<float>());
    EXPECT_EQ(b->state(), a->state());
  }
  auto a = make_image_source(tiny_set(10));
  const std::vector<int64_t> good = a->state();
  auto with = [&](size_t i, int64_t v) {
    std::vector<int64_t> s = good;
    s[i] = v;
    return s;
  };
  expect_error([&] { a->restore({}); }, {"not the state of an image dataset"});
  expect_error([&] { a->restore(with(0, 1)); }, {"not the state"});
  expect_error([&] { a->restore(with(2, 11)); }, {"11 images", "has 10"});
  expect_error([&] { a->restore(with(3, -1)); }, {"bad position"});
  expect_error([&] { a->restore(with(4, 10)); }, {"bad position"});
  expect_error([&] { a->restore(open_dataset("toy:moons")->state()); }, {"not the state"});
  expect_error([&] { open_dataset("toy:moons")->restore(good); }, {"not the state of a toy"});
  EXPECT_EQ(a->state(), good);  // failed restores change nothing
}

TEST(ImageStream, HflipMirrorsAboutHalfWithTheSameOrder) {
  auto plain = make_image_source(tiny_set(100), opts(6));
  auto flip = make_image_source(tiny_set(100), opts(6, true));
  std::vector<bool> flipped;
  const auto ids = identify(flip->next_batch(1000), &flipped);
  EXPECT_EQ(ids, take(*plain, 1000, 1000));
  const auto n = std::count(flipped.begin(), flipped.end(), true);
  EXPECT_GT(n, 430);
  EXPECT_LT(n, 570);
  // Without hflip nothing is mirrored.
  std::vector<bool> none;
  identify(plain->next_batch(200), &none);
  EXPECT_EQ(std::count(none.begin(), none.end(), true), 0);
}

// Data-parallel shards (shard_data): the shards' rows of each global batch are disjoint and
// together they are, in order, the batch one process reads (flips included), so every example
// is visited once per epoch; every shard keeps the one process's stream position.
TEST(ShardData, ShardsAreDisjointAndCoverTheStream) {
  for (int64_t count : {2, 3}) {
    for (bool hflip : {false, true}) {
      auto whole = make_image_source(tiny_set(12), opts(8, hflip));
      std::vector<std::unique_ptr<DataSource>> shards;
      for (int64_t i = 0; i < count; ++i)
        shards.push_back(shard_data(make_image_source(tiny_set(12), opts(8, hflip)), i, count));
      std::vector<int64_t> sharded_ids;
      std::vector<bool> sharded_flips;
      for (int step = 0; step < 7; ++step) {  // 7 global batches of 5 * count: wraps epochs
        std::vector<int64_t> step_ids;
        for (auto& shard : shards) {
          const auto ids = identify(shard->next_batch(5), &sharded_flips);
          step_ids.insert(step_ids.end(), ids.begin(), ids.end());
        }
        sharded_ids.insert(sharded_ids.end(), step_ids.begin(), step_ids.end());
      }
      for (size_t e = 0; e + 12 <= sharded_ids.size(); e += 12)
        EXPECT_EQ(std::set<int64_t>(sharded_ids.begin() + e, sharded_ids.begin() + e + 12).size(),
                  12u)
            << "the shards together visit an example twice in an epoch";
      std::vector<bool> whole_flips;
      EXPECT_EQ(sharded_ids, identify(whole->next_batch(7 * 5 * count), &whole_flips));
      EXPECT_EQ(sharded_flips, whole_flips);
      for (auto& shard : shards) EXPECT_EQ(shard->state(), whole->state());
    }
  }
  // Toys and labels: the same rows as one process's draw.
  auto whole = open_dataset("toy:8gaussians", DataOptions{3, false, false});
  auto first = shard_data(open_dataset("toy:8gaussians", DataOptions{3, false, false}), 0, 2);
  auto second = shard_data(open_dataset("toy:8gaussians", DataOptions{3, false, false}), 1, 2);
  const Batch a = first->next_batch(4), b = second->next_batch(4), all = whole->next_batch(8);
  EXPECT_EQ(concat({a.x, b.x}, 0).to_vector<float>(), all.x.to_vector<float>());
  EXPECT_EQ(concat({a.labels, b.labels}, 0).to_vector<int64_t>(), all.labels.to_vector<int64_t>());
  EXPECT_THROW(shard_data(open_dataset("toy:moons"), 2, 2), Error);
}

TEST(ImageStream, ReferenceSamplesAreSubsetsAndLeaveTheStreamAlone) {
  auto a = make_image_source(tiny_set(10), opts(3, true));
  auto b = make_image_source(tiny_set(10), opts(3, true));
  Rng g1(8), g2(8);
  std::vector<bool> flipped;
  const auto six = identify(a->reference_sample(6, g1), &flipped);
  EXPECT_EQ(std::set<int64_t>(six.begin(), six.end()).size(), 6u);  // without replacement
  EXPECT_EQ(std::count(flipped.begin(), flipped.end(), true), 0);   // never flipped
  EXPECT_EQ(identify(a->reference_sample(6, g2)), six);             // a function of gen
  EXPECT_EQ(take(*a, 30, 7), take(*b, 30, 7));
  // More than the set: whole passes, then a subset.
  const auto many = identify(a->reference_sample(25, g1));
  std::map<int64_t, int> times;
  for (int64_t id : many) ++times[id];
  EXPECT_EQ(times.size(), 10u);
  for (const auto& [id, n] : times) EXPECT_TRUE(n == 2 || n == 3) << id;
  EXPECT_FALSE(make_image_source(tiny_set(4, false))->reference_sample(2, g1).labels.defined());
  expect_error([&] { a->reference_sample(0, g1); }, {"positive"});
}

TEST(ImageStream, RejectsInconsistentSets) {
  ImageSet set = tiny_set(4);
  set.pixels.pop_back();
  expect_error([&] { make_image_source(std::move(set)); }, {"pixel bytes"});
  set = tiny_set(4);
  set.labels.pop_back();
  expect_error([&] { make_image_source(std::move(set)); }, {"3 labels for 4 images"});
  expect_error([&] { make_image_source(ImageSet{}); }, {"empty"});
}

}  // namespace
}  // namespace onestep::diffusion
