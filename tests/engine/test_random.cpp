// Philox: known answers, determinism, layout independence from threads, distributions.

#include <gtest/gtest.h>

#include <functional>

#include "../../engine/src/philox.h"
#include "testing/gradcheck.h"

namespace onestep {
namespace {

// Random123's tests/kat_vectors, "philox4x32 10" lines: counter, key, result.
TEST(Philox, MatchesTheRandom123KnownAnswers) {
  struct Case {
    uint32_t ctr[4], key[2], expected[4];
  };
  const Case cases[] = {
      {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
      {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
       {0xffffffff, 0xffffffff},
       {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
      {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
       {0xa4093822, 0x299f31d0},
       {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  for (const Case& c : cases) {
    const philox::Block b =
        philox::philox4x32_10(c.ctr[0], c.ctr[1], c.ctr[2], c.ctr[3], c.key[0], c.key[1]);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(b.w[i], c.expected[i]) << "word " << i;
  }
}

namespace {

// Two successive draws of `global` from `whole`, against `count` shards each drawing `local`
// twice from the same starting state: equal, and the states end equal.
void draw_twice_and_compare(const std::function<Tensor(const Shape&, Rng&)>& draw,
                            const Shape& global, const Shape& local, int64_t count, Rng& whole,
                            const char* what) {
  const Rng start = whole;
  std::vector<Tensor> expected = {draw(global, whole)};
  const uint64_t offsets[2] = {whole.offset(),
                               (expected.push_back(draw(global, whole)), whole.offset())};
  for (int round = 0; round < 2; ++round) {
    std::vector<Tensor> pieces;
    for (int64_t index = 0; index < count; ++index) {
      Rng shard = start;
      shard.set_shard(index, count);
      Tensor piece = draw(local, shard);
      if (round == 1) piece = draw(local, shard);
      EXPECT_EQ(shard.offset(), offsets[round]) << what;
      pieces.push_back(piece);
    }
    EXPECT_EQ(
        testing::max_abs_diff(concat(pieces, 0).to(DType::f64), expected[round].to(DType::f64)),
        0.0)
        << what << ", " << count << " shards of " << shape_str(local) << ", draw " << round;
  }
}

}  // namespace

TEST(Random, TheSameSeedGivesTheSameNumbers) {
  Rng a(123), b(123), c(124);
  const Tensor x = randn({1000}, a), y = randn({1000}, b), z = randn({1000}, c);
  EXPECT_EQ(testing::max_abs_diff(x, y), 0.0);
  EXPECT_GT(testing::max_abs_diff(x, z), 0.1);
  // Successive draws differ, and the generator's state replays them.
  const uint64_t offset = a.offset();
  const Tensor next = randn({1000}, a);
  EXPECT_GT(testing::max_abs_diff(next, x), 0.1);
  Rng replay(0);
  replay.set_state(123, offset);
  EXPECT_EQ(testing::max_abs_diff(randn({1000}, replay), next), 0.0);
}

TEST(Random, CountersAdvanceByTheLayout) {
  Rng gen(1);
  rand({10}, gen);  // f32: 4 per counter
  EXPECT_EQ(gen.offset(), 3u);
  randn({3}, gen, DType::f64);  // f64: 2 per counter
  EXPECT_EQ(gen.offset(), 5u);
  randint(0, 10, {5}, gen);
  EXPECT_EQ(gen.offset(), 8u);
}

TEST(Random, ElementsFollowTheDocumentedLayout) {
  Rng gen(77);
  gen.advance(5);
  const auto values = rand({9}, gen).to_vector<float>();
  for (int64_t i = 0; i < 9; ++i) {
    const philox::Block b = philox::block(77, 5 + i / 4);
    EXPECT_EQ(values[i], philox::uniform_f32_lane(b, static_cast<int>(i % 4)));
  }
}

TEST(Random, NumbersDoNotDependOnTheThreadCount) {
  const int before = num_threads();
  Rng a(9), b(9);
  set_num_threads(1);
  const Tensor single = randn({300001}, a);
  set_num_threads(std::max(2, before));
  const Tensor multi = randn({300001}, b);
  set_num_threads(before);
  EXPECT_EQ(testing::max_abs_diff(single, multi), 0.0);
}

TEST(Random, DistributionsHaveTheRightMoments) {
  Rng gen(2024);
  for (DType dtype : {DType::f32, DType::f64}) {
    const Tensor n = randn({1 << 20}, gen, dtype).to(DType::f64);
    EXPECT_NEAR(mean(n).item(), 0.0, 0.005);
    EXPECT_NEAR(var(n).item(), 1.0, 0.005);
    EXPECT_NEAR(mean(n * n * n * n).item(), 3.0, 0.03);  // Gaussian kurtosis
    const Tensor u = rand({1 << 20}, gen, dtype).to(DType::f64);
    EXPECT_GE(amin(u).item(), 0.0);
    EXPECT_LT(amax(u).item(), 1.0);
    EXPECT_NEAR(mean(u).item(), 0.5, 0.002);
    EXPECT_NEAR(var(u).item(), 1.0 / 12.0, 0.001);
  }
  const Tensor k = randint(-3, 4, {70000}, gen);
  EXPECT_EQ(amin(k).item(), -3);
  EXPECT_EQ(amax(k).item(), 3);
  for (int v = -3; v <= 3; ++v) EXPECT_NEAR(sum(eq(k, v)).item() / 70000.0, 1.0 / 7.0, 0.01);
}

// Data-parallel ranks each draw their rows of one global draw (Rng::set_shard): the shards of
// every kind and dtype, at sizes that start mid-counter, concatenate to the unsharded draw, and
// every shard's generator advances as the unsharded one does.
TEST(Random, ShardsConcatenateToTheUnshardedDraw) {
  struct Kind {
    const char* name;
    std::function<Tensor(const Shape&, Rng&)> draw;
  };
  const std::vector<Kind> kinds = {
      {"rand f32", [](const Shape& s, Rng& g) { return rand(s, g); }},
      {"randn f32", [](const Shape& s, Rng& g) { return randn(s, g); }},
      {"randn f64", [](const Shape& s, Rng& g) { return randn(s, g, DType::f64); }},
      {"randint", [](const Shape& s, Rng& g) { return randint(-3, 1000, s, g); }},
      {"dropout", [](const Shape& s, Rng& g) { return dropout(ones(s), 0.5, true, g); }}};
  const std::vector<Shape> local_shapes = {{1}, {3}, {5, 2}, {3, 3, 1}, {2, 7}};
  for (const Kind& kind : kinds) {
    for (const Shape& local : local_shapes) {
      for (int64_t count : {2, 3, 4}) {
        Shape global = local;
        global[0] *= count;
        Rng whole(99);
        whole.advance(3);
        draw_twice_and_compare(kind.draw, global, local, count, whole, kind.name);
      }
    }
  }
  // 0-d draws are not split: every shard draws the same scalar.
  Rng whole(5), shard(5);
  shard.set_shard(1, 2);
  EXPECT_EQ(randn({}, whole).item(), randn({}, shard).item());
  EXPECT_EQ(whole.offset(), shard.offset());
  EXPECT_THROW(shard.set_shard(2, 2), Error);
  EXPECT_THROW(shard.set_shard(0, 0), Error);
}

TEST(Random, BadArgumentsAreErrors) {
  Rng gen(0);
  EXPECT_THROW(randint(5, 5, {2}, gen), Error);
  EXPECT_THROW(randn({2}, gen, DType::i64), Error);
  EXPECT_THROW(rand({2}, gen, DType::i64), Error);
}

TEST(Dropout, KeepsTheExpectationAndIsTheIdentityInEval) {
  Rng gen(3);
  const Tensor x = ones({1 << 18});
  const Tensor y = dropout(x, 0.25, true, gen);
  EXPECT_NEAR(mean(y).item(), 1.0, 0.01);
  EXPECT_NEAR(mean(eq(y, 0.0)).item(), 0.25, 0.01);
  EXPECT_TRUE(dropout(x, 0.25, false, gen).is_same(x));
  EXPECT_THROW(dropout(x, 1.0, true, gen), Error);
}

}  // namespace
}  // namespace onestep
