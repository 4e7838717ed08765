#include "jobs/generation_jobs.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace memberlake::jobs {
namespace {

// A server runs for months with a trigger submitting jobs: the history it keeps is bounded,
// the oldest finished jobs go first, the newest stay readable.
TEST(GenerationJobsTest, HistoryKeepsOnlyTheNewestFinishedJobs) {
  int runs = 0;
  auto no_store = [&runs]() -> arrow::Result<std::unique_ptr<store::MemberStore>> {
    ++runs;
    return arrow::Status::IOError("no store in this test");
  };
  const size_t keep = 5;
  GenerationJobs jobs(no_store, /*lake=*/nullptr, {}, {}, keep);
  std::vector<std::string> ids;
  for (int i = 0; i < 12; ++i) {
    auto job = jobs.Submit("tester", model::CivilDate{2026, 1, 7});
    ASSERT_TRUE(job.ok()) << job.status().ToString();
    auto done = jobs.Wait(job->id);
    ASSERT_TRUE(done.has_value());
    EXPECT_EQ(done->state, "failed");
    ids.push_back(job->id);
  }
  EXPECT_EQ(runs, 12);
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(jobs.Get(ids[i]).has_value(), i >= ids.size() - keep) << ids[i];
  }
}

}  // namespace
}  // namespace memberlake::jobs
