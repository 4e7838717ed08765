#include "server/audit_log.h"

#include "crypto/sha256.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

namespace memberlake::server {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kT0 = 1767780000000;  // 2026-01-07T10:00:00Z

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("memberlake-audit-" + std::to_string(getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    path_ = (dir_ / "audit.log").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  static AuditEvent Event(int64_t rows) {
    AuditEvent event;
    event.actor = "anna";
    event.auth = "jwt";
    event.roles = {"Members_Export", "Regio_Utrecht"};
    event.action = "report.export";
    event.scope = {"Utrecht"};
    event.rows = rows;
    event.data_version = "12";
    event.target = "member-overview";
    return event;
  }
  void Write(int entries) {
    auto log = *AuditLog::Open(path_);
    for (int i = 0; i < entries; ++i) ASSERT_TRUE(log->Append(Event(i), kT0 + i).ok());
  }
  std::vector<std::string> Lines() const {
    std::ifstream file(path_);
    std::vector<std::string> lines;
    for (std::string line; std::getline(file, line);) lines.push_back(line);
    return lines;
  }
  void Rewrite(const std::vector<std::string>& lines) const {
    std::ofstream file(path_, std::ios::trunc);
    for (const auto& line : lines) file << line << "\n";
  }
  AuditVerification Verify() const { return *AuditLog::Verify(path_); }

  fs::path dir_;
  std::string path_;
};

TEST_F(AuditLogTest, ChainContinuesAcrossReopenAndVerifies) {
  Write(3);
  Write(2);
  auto result = Verify();
  EXPECT_TRUE(result.ok) << result.problem;
  EXPECT_EQ(result.entries, 5);
  auto log = *AuditLog::Open(path_);
  auto records = *log->Read(0, 100);
  ASSERT_EQ(records.size(), 5u);
  for (size_t i = 0; i < records.size(); ++i) EXPECT_EQ(records[i].seq, static_cast<int64_t>(i + 1));
  EXPECT_EQ(records[3].prev, records[2].hash);
  EXPECT_EQ(records[0].time, "2026-01-07T10:00:00.000Z");
  EXPECT_EQ(records[4].event.rows, 1);
  EXPECT_EQ(log->Read(3, 1)->at(0).seq, 4);
}

TEST_F(AuditLogTest, EditedEntryIsFound) {
  Write(5);
  auto lines = Lines();
  lines[2].replace(lines[2].find("\"rows\":2"), 8, "\"rows\":3");
  Rewrite(lines);
  auto result = Verify();
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.first_bad_line, 3);
  EXPECT_NE(result.problem.find("hash mismatch"), std::string::npos) << result.problem;
}

TEST_F(AuditLogTest, RemovedOrReorderedEntriesAreFound) {
  Write(5);
  auto lines = Lines();
  Rewrite({lines[0], lines[1], lines[3], lines[4]});
  EXPECT_FALSE(Verify().ok);
  Rewrite({lines[0], lines[2], lines[1], lines[3], lines[4]});
  EXPECT_FALSE(Verify().ok);
  Rewrite(lines);
  EXPECT_TRUE(Verify().ok);
}

TEST_F(AuditLogTest, CutOffTailIsFoundThroughTheAnchor) {
  Write(5);  // closing the log writes the anchor
  auto lines = Lines();
  lines.pop_back();
  Rewrite(lines);
  auto result = Verify();
  EXPECT_FALSE(result.ok);
  EXPECT_NE(result.problem.find("anchor"), std::string::npos) << result.problem;
}

TEST_F(AuditLogTest, ForgedHashWithoutRelinkingIsFound) {
  Write(4);
  auto lines = Lines();
  // An attacker edits entry 2 and recomputes its hash correctly; entry 3 still links to the old one.
  std::string& line = lines[1];
  std::string unhashed = line.substr(0, line.find(",\"hash\":")) + "}";
  unhashed.replace(unhashed.find("\"actor\":\"anna\""), 14, "\"actor\":\"bert\"");
  std::string prev = unhashed.substr(unhashed.find("\"prev\":\"") + 8, 64);
  std::string forged = crypto::Sha256Hex(prev + "\n" + unhashed);
  line = unhashed.substr(0, unhashed.size() - 1) + ",\"hash\":\"" + forged + "\"}";
  Rewrite(lines);
  auto result = Verify();
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.first_bad_line, 3) << result.problem;  // entry 2 itself hashes right
}

TEST_F(AuditLogTest, GarbageAndCorruptTailAreErrors) {
  Write(2);
  auto lines = Lines();
  lines.insert(lines.begin() + 1, "this is not json");
  Rewrite(lines);
  EXPECT_FALSE(Verify().ok);
  Rewrite({lines[0], "{\"seq\": 2, \"broken"});
  auto reopened = AuditLog::Open(path_);
  ASSERT_FALSE(reopened.ok());
  EXPECT_NE(reopened.status().message().find("line 2"), std::string::npos);
  EXPECT_FALSE(AuditLog::Verify((dir_ / "absent.log").string()).ok());
}

TEST_F(AuditLogTest, TornLastLineIsCutOffAndTheRepairIsAudited) {
  Write(3);
  std::ofstream(path_, std::ios::app) << "{\"seq\":4,\"time\":\"2026-01-";  // a write that never finished
  auto reopened = AuditLog::Open(path_);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  auto records = *(*reopened)->Read(0, 100);
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[3].event.action, "audit.repair");
  EXPECT_NE(records[3].event.detail.find("torn"), std::string::npos);
  EXPECT_EQ(records[3].prev, records[2].hash);
  reopened->reset();
  auto result = Verify();
  EXPECT_TRUE(result.ok) << result.problem;
  EXPECT_EQ(result.entries, 4);
}

TEST_F(AuditLogTest, OneWriterAtATime) {
  auto first = AuditLog::Open(path_);
  ASSERT_TRUE(first.ok());
  auto second = AuditLog::Open(path_);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("in use"), std::string::npos) << second.status().ToString();
  first->reset();
  EXPECT_TRUE(AuditLog::Open(path_).ok());  // released on close
}

// Rewrites every line as an attacker without the key would: entry 2 edited, then every hash
// and link recomputed with plain SHA-256.
void RewriteWithRecomputedHashes(std::vector<std::string>& lines) {
  std::string prev(64, '0');
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string unhashed = lines[i].substr(0, lines[i].find(",\"hash\":")) + "}";
    if (i == 1) unhashed.replace(unhashed.find("\"actor\":\"anna\""), 14, "\"actor\":\"bert\"");
    const size_t at = unhashed.find("\"prev\":\"") + 8;
    unhashed.replace(at, 64, prev);
    prev = crypto::Sha256Hex(prev + "\n" + unhashed);
    lines[i] = unhashed.substr(0, unhashed.size() - 1) + ",\"hash\":\"" + prev + "\"}";
  }
}

TEST_F(AuditLogTest, KeyedChainFindsARewriteWithRecomputedHashes) {
  const std::string key = "audit-key-0123456789abcdef";
  {
    auto log = *AuditLog::Open(path_, key);
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(log->Append(Event(i), kT0 + i).ok());
  }
  EXPECT_TRUE(AuditLog::Verify(path_, key)->ok);
  EXPECT_FALSE(AuditLog::Verify(path_, "another-key-0123456789")->ok);
  auto lines = Lines();
  RewriteWithRecomputedHashes(lines);
  Rewrite(lines);
  fs::remove(path_ + ".head");  // the forger rewrites the anchor too
  EXPECT_TRUE(AuditLog::Verify(path_)->ok);  // an unkeyed chain cannot tell
  auto keyed = *AuditLog::Verify(path_, key);
  EXPECT_FALSE(keyed.ok);
  EXPECT_EQ(keyed.first_bad_seq, 1) << keyed.problem;  // no entry carries the key's MAC any more
  EXPECT_NE(keyed.problem.find("without the key"), std::string::npos) << keyed.problem;
}

TEST_F(AuditLogTest, ConcurrentAppendsKeepOneChain) {
  {
    auto log = *AuditLog::Open(path_);
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&log, t] {
        for (int i = 0; i < 500; ++i) ASSERT_TRUE(log->Append(Event(t * 1000 + i)).ok());
      });
    }
    for (auto& thread : threads) thread.join();
  }
  auto result = Verify();
  EXPECT_TRUE(result.ok) << result.problem;
  EXPECT_EQ(result.entries, 4000);
}

}  // namespace
}  // namespace memberlake::server
