#include "jobs/generation_triggers.h"

#include <gtest/gtest.h>

#include "server/server_config.h"

namespace memberlake::jobs {
namespace {

using std::chrono::seconds;
using Time = std::chrono::steady_clock::time_point;

TEST(ParseClockTime, AcceptsHoursAndMinutesOnly) {
  EXPECT_EQ(*ParseClockTime("03:00"), std::make_pair(3, 0));
  EXPECT_EQ(*ParseClockTime("23:59"), std::make_pair(23, 59));
  for (const char* bad : {"24:00", "12:60", "3:00", "03:00:00", "noon", ""}) {
    auto parsed = ParseClockTime(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_NE(parsed.status().message().find(std::string("'") + bad + "'"), std::string::npos);
  }
}

TEST(ChangeWatch, WaitsForQuietAfterABurstOfChanges) {
  TriggerConfig config;
  config.on_change_min_changes = 3;
  config.on_change_quiet_seconds = 10;
  config.on_change_max_delay_seconds = 1000;
  ChangeWatch watch;
  const Time t0{};
  EXPECT_FALSE(watch.Observe(100, 100, t0, config));                // nothing waiting
  EXPECT_FALSE(watch.Observe(102, 100, t0 + seconds(1), config));   // 2 < 3
  EXPECT_FALSE(watch.Observe(102, 100, t0 + seconds(30), config));  // still 2, however long
  EXPECT_FALSE(watch.Observe(103, 100, t0 + seconds(31), config));  // 3 waiting, but a write just came
  EXPECT_FALSE(watch.Observe(104, 100, t0 + seconds(35), config));  // the burst goes on
  EXPECT_FALSE(watch.Observe(104, 100, t0 + seconds(44), config));  // 9 s quiet
  EXPECT_TRUE(watch.Observe(104, 100, t0 + seconds(45), config));   // 10 s quiet: generate
  // the snapshot caught up: nothing is due any more
  EXPECT_FALSE(watch.Observe(104, 104, t0 + seconds(100), config));
}

TEST(ChangeWatch, AStreamOfChangesIsPublishedAfterTheMaximumDelay) {
  TriggerConfig config;
  config.on_change_min_changes = 1;
  config.on_change_quiet_seconds = 60;
  config.on_change_max_delay_seconds = 300;
  ChangeWatch watch;
  const Time t0{};
  int64_t version = 10;
  EXPECT_FALSE(watch.Observe(version, 10, t0, config));
  bool due = false;
  int due_at = -1;
  for (int s = 1; s <= 400 && !due; s += 20) {  // a write every 20 s: never 60 s of quiet
    due = watch.Observe(++version, 10, t0 + seconds(s), config);
    if (due) due_at = s;
  }
  EXPECT_TRUE(due);
  EXPECT_GE(due_at, 301);  // first pending at 1 s, so due from 301 s
  EXPECT_LE(due_at, 321);
}

TEST(ChangeWatch, OffWhenNoMinimumIsSet) {
  TriggerConfig config;  // on_change_min_changes = 0
  ChangeWatch watch;
  EXPECT_FALSE(watch.Observe(1000, 0, Time{} + seconds(100000), config));
}

TEST(ServerConfigTriggers, BadSettingsAreNamed) {
  const std::string base = "[data]\nstore = \"sqlite:m.db\"\nlake = \"lake\"\n[auth]\napi_keys_file = \"k.toml\"\n";
  auto ok = server::ServerConfig::LoadString(base + "[triggers]\ndaily_at = \"03:30\"\non_change_min_changes = 5\n", "/tmp");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->triggers.daily_at, std::make_pair(3, 30));
  EXPECT_EQ(ok->triggers.on_change_min_changes, 5);
  auto bad_time = server::ServerConfig::LoadString(base + "[triggers]\ndaily_at = \"25:00\"\n", "/tmp");
  ASSERT_FALSE(bad_time.ok());
  EXPECT_NE(bad_time.status().message().find("triggers.daily_at"), std::string::npos);
  auto negative = server::ServerConfig::LoadString(base + "[triggers]\nevery_seconds = -5\n", "/tmp");
  ASSERT_FALSE(negative.ok());
  EXPECT_NE(negative.status().message().find("triggers.every_seconds"), std::string::npos);
  auto unknown = server::ServerConfig::LoadString(base + "[triggers]\nhourly = true\n", "/tmp");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("triggers.hourly"), std::string::npos);
  auto no_lake = server::ServerConfig::LoadString(
      "[data]\nstore = \"sqlite:m.db\"\n[auth]\napi_keys_file = \"k.toml\"\n[triggers]\nevery_seconds = 60\n", "/tmp");
  ASSERT_FALSE(no_lake.ok());
  EXPECT_NE(no_lake.status().message().find("data.lake"), std::string::npos);
}

}  // namespace
}  // namespace memberlake::jobs
