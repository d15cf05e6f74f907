// The CPU backend's thread pool: every chunk runs once, on a thread whose participant index
// fits the scratch sized by num_threads(), through sleeps, nesting, resizing and concurrent
// callers.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "onestep/engine/error.h"
#include "onestep/engine/threading.h"
#include "thread_pool.h"

namespace onestep::cpu_backend {
namespace {

struct Tally {
  std::vector<std::atomic<int>> runs;
  std::atomic<int> bad_participant{0};
  std::atomic<int> outside_region{0};
  int threads;
  explicit Tally(int64_t chunks, int threads) : runs(chunks), threads(threads) {}
};

void count_chunk(const void* context, int64_t chunk, int participant) {
  auto& tally = *static_cast<Tally*>(const_cast<void*>(context));
  tally.runs[chunk].fetch_add(1);
  if (participant < 0 || participant >= tally.threads) tally.bad_participant.fetch_add(1);
  if (!in_parallel_region()) tally.outside_region.fetch_add(1);
}

// Runs `chunks` chunks and checks each ran exactly once.
void expect_each_chunk_once(int64_t chunks) {
  Tally tally(chunks, num_threads());
  run_chunks(chunks, num_threads(), count_chunk, &tally);
  for (int64_t c = 0; c < chunks; ++c) ASSERT_EQ(tally.runs[c].load(), 1) << "chunk " << c;
  EXPECT_EQ(tally.bad_participant.load(), 0);
  EXPECT_EQ(tally.outside_region.load(), 0);
  EXPECT_FALSE(in_parallel_region());
}

class ThreadPool : public ::testing::Test {
 protected:
  void SetUp() override {
    before_ = num_threads();
    set_num_threads(3);  // more threads than this machine may have cores: workers get preempted
  }
  void TearDown() override { set_num_threads(before_); }
  int before_ = 1;
};

TEST_F(ThreadPool, RunsEveryChunkOnceOverManyBackToBackRegions) {
  for (int region = 0; region < 20000; ++region) expect_each_chunk_once(1 + region % 13);
}

TEST_F(ThreadPool, WorkersThatFellAsleepWakeForTheNextRegion) {
  for (int region = 0; region < 20; ++region) {
    // Longer than the spin budget, so every worker has gone to sleep.
    std::this_thread::sleep_for(std::chrono::microseconds(spin_microseconds() + 2000));
    expect_each_chunk_once(64);
  }
}

TEST_F(ThreadPool, ANestedRegionRunsOnTheThreadThatOpensIt) {
  struct Nested {
    std::atomic<int> inner_runs{0};
    std::atomic<int> moved_thread{0};
  } nested;
  run_chunks(
      8, num_threads(),
      [](const void* context, int64_t, int) {
        auto& n = *static_cast<Nested*>(const_cast<void*>(context));
        struct Inner {
          Nested* n;
          std::thread::id opener;
        } inner{&n, std::this_thread::get_id()};
        run_chunks(
            5, num_threads(),
            [](const void* c, int64_t, int) {
              auto& i = *static_cast<const Inner*>(c);
              i.n->inner_runs.fetch_add(1);
              if (std::this_thread::get_id() != i.opener) i.n->moved_thread.fetch_add(1);
            },
            &inner);
      },
      &nested);
  EXPECT_EQ(nested.inner_runs.load(), 40);
  EXPECT_EQ(nested.moved_thread.load(), 0);
}

TEST_F(ThreadPool, ConcurrentCallersEachGetAllTheirChunks) {
  std::vector<std::thread> callers;
  std::atomic<int> failures{0};
  for (int t = 0; t < 3; ++t)
    callers.emplace_back([&] {
      for (int region = 0; region < 2000; ++region) {
        Tally tally(7, num_threads());
        run_chunks(7, num_threads(), count_chunk, &tally);
        for (int64_t c = 0; c < 7; ++c)
          if (tally.runs[c].load() != 1) failures.fetch_add(1);
        if (tally.bad_participant.load() != 0) failures.fetch_add(1);
      }
    });
  for (std::thread& caller : callers) caller.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST_F(ThreadPool, ResizingBetweenRegionsKeepsParticipantsWithinTheThreadCount) {
  for (int threads : {1, 4, 2, 1, 3}) {
    set_num_threads(threads);
    for (int region = 0; region < 200; ++region) expect_each_chunk_once(1 + region % 9);
  }
}

TEST(ThreadPoolSettings, SpinTimeComesFromTheEnvironmentOrTheDefault) {
  EXPECT_EQ(detail::parse_spin_microseconds("0"), 0);
  EXPECT_EQ(detail::parse_spin_microseconds("200"), 200);
  EXPECT_GT(detail::parse_spin_microseconds(nullptr), 0);
  EXPECT_EQ(detail::parse_spin_microseconds(""), detail::parse_spin_microseconds(nullptr));
  EXPECT_THROW(detail::parse_spin_microseconds("-1"), Error);
  EXPECT_THROW(detail::parse_spin_microseconds("fast"), Error);
  EXPECT_THROW(detail::parse_spin_microseconds("2000000"), Error);
}

}  // namespace
}  // namespace onestep::cpu_backend
