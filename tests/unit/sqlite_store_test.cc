#include "store/member_store.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <arrow/api.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include "store/sample_members.h"

namespace memberlake::store {
namespace {

namespace fs = std::filesystem;

class SqliteStore : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("memberlake-store-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    registry_ = *model::FieldRegistry::LoadDefault();
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<MemberStore> Open(bool create = true, int scan_threads = 2) {
    StoreOptions options;
    options.create_if_missing = create;
    options.scan_threads = scan_threads;
    auto store = OpenMemberStore("sqlite:" + (dir_ / "m.db").string(), registry_, options);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return std::move(*store);
  }

  // A store (scans on `scan_threads` connections) holding `members` sample members.
  std::unique_ptr<MemberStore> OpenWithSampleMembers(int64_t members, int scan_threads = 2) {
    auto store = Open(true, scan_threads);
    SampleOptions sample;
    sample.members = members;
    EXPECT_EQ(*store->ImportRaw(**MakeSampleMembers(registry_, sample)), members);
    return store;
  }

  static FieldValues Member(const std::string& achternaam) {
    return {{"voornaam", "Jan"}, {"achternaam", achternaam}, {"email", "jan@example.nl"},
            {"status", "Actief"}, {"lidmaatschap", "Gewoon lid"}, {"regio", "Utrecht"}};
  }

  std::string Field(const StoredMember& m, const std::string& name) {
    return m.record[static_cast<size_t>(registry_->StoredIndex(name))].value_or("<null>");
  }

  fs::path dir_;
  std::shared_ptr<const model::FieldRegistry> registry_;
};

TEST_F(SqliteStore, InsertAssignsIdsAndVersionsAndLogsChanges) {
  auto store = Open();
  auto a = store->Insert(Member("Jansen"));
  auto b = store->Insert(Member("Bakker"));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(Field(*a, "lidnummer"), "1");
  EXPECT_EQ(Field(*b, "lidnummer"), "2");
  EXPECT_EQ(Field(*a, "member_id").size(), 36u);
  EXPECT_NE(Field(*a, "created_at"), "<null>");
  EXPECT_LT(a->version, b->version);
  EXPECT_EQ(*store->DataVersion(), b->version);
  auto updated = store->Update(Field(*a, "member_id"), {{"regio", "oost"}}, a->version);
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  EXPECT_EQ(Field(*updated, "regio"), "Oost");
  ASSERT_TRUE(store->Delete(Field(*b, "member_id"), b->version).ok());
  auto changes = store->ChangesSince(0);
  ASSERT_TRUE(changes.ok());
  ASSERT_EQ(changes->size(), 4u);
  EXPECT_EQ((*changes)[2].op, ChangeOp::kUpdate);
  EXPECT_EQ((*changes)[3].op, ChangeOp::kDelete);
  EXPECT_EQ((*changes)[3].member_id, Field(*b, "member_id"));
  for (size_t i = 1; i < changes->size(); ++i) EXPECT_GT((*changes)[i].data_version, (*changes)[i - 1].data_version);
  EXPECT_EQ(store->ChangesSince((*changes)[1].data_version)->size(), 2u);
}

TEST_F(SqliteStore, FailedWritesChangeNothing) {
  auto store = Open();
  auto a = store->Insert(Member("Jansen"));
  ASSERT_TRUE(a.ok());
  int64_t version = *store->DataVersion();
  auto bad = Member("Visser");
  bad.emplace_back("regio", "Atlantis");
  auto rejected = store->Insert(bad);
  ASSERT_FALSE(rejected.ok());
  EXPECT_TRUE(rejected.status().IsInvalid());
  EXPECT_EQ(rejected.status().message(), "regio: unknown value 'Atlantis'");
  auto conflict = store->Update(Field(*a, "member_id"), {{"regio", "Oost"}}, a->version + 7);
  EXPECT_TRUE(conflict.status().IsAlreadyExists());
  EXPECT_NE(conflict.status().message().find("version conflict"), std::string::npos);
  auto invalid_update = store->Update(Field(*a, "member_id"), {{"achternaam", std::nullopt}}, a->version);
  EXPECT_EQ(invalid_update.status().message(), "achternaam: required field is missing");
  EXPECT_TRUE(store->Delete("no-such-id", 1).IsKeyError());
  EXPECT_EQ(*store->DataVersion(), version);
  EXPECT_EQ(store->List(0, 100)->size(), 1u);
  EXPECT_EQ(Field(*store->Get(Field(*a, "member_id")), "regio"), "Utrecht");
}

TEST_F(SqliteStore, ScanSeesOneSnapshotWhileWritersContinue) {
  auto store = OpenWithSampleMembers(3000);
  auto scan = store->Scan(1000);
  ASSERT_TRUE(scan.ok());
  EXPECT_EQ(scan->data_version, 3000);
  EXPECT_EQ(scan->row_count, 3000);
  // another connection writes while the scan is still open
  auto writer = Open(false);
  ASSERT_TRUE(writer->Insert(Member("Later")).ok());
  int64_t rows = 0;
  std::shared_ptr<arrow::RecordBatch> batch;
  while (scan->reader->ReadNext(&batch).ok() && batch) {
    EXPECT_TRUE(batch->schema()->Equals(*registry_->raw_schema()));
    EXPECT_LE(batch->num_rows(), 1000);
    rows += batch->num_rows();
  }
  EXPECT_EQ(rows, 3000);  // the insert made after the scan began is not in it
  scan->reader.reset();
  EXPECT_EQ(store->Scan()->row_count, 3001);
}

// Every row a reader returns as text ("member_id|lidnummer|..."), in order; checks the batch
// size on the way.
std::vector<std::string> CollectRows(arrow::RecordBatchReader& reader, int64_t batch_rows) {
  std::vector<std::string> rows;
  std::shared_ptr<arrow::RecordBatch> batch;
  while (true) {
    auto status = reader.ReadNext(&batch);
    EXPECT_TRUE(status.ok()) << status.ToString();
    if (!status.ok() || batch == nullptr) break;
    EXPECT_LE(batch->num_rows(), batch_rows);
    EXPECT_GT(batch->num_rows(), 0);
    for (int64_t r = 0; r < batch->num_rows(); ++r) {
      std::string row;
      for (const auto& column : batch->columns()) {
        auto text = std::static_pointer_cast<arrow::StringArray>(column);
        row += (text->IsNull(r) ? std::string("<null>") : std::string(text->GetView(r))) + "|";
      }
      rows.push_back(std::move(row));
    }
  }
  return rows;
}

std::vector<std::string> ScanRows(MemberStore& store, int64_t batch_rows) {
  auto scan = store.Scan(batch_rows);
  EXPECT_TRUE(scan.ok()) << scan.status().ToString();
  return scan.ok() ? CollectRows(*scan->reader, batch_rows) : std::vector<std::string>{};
}

void ExecSql(const fs::path& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path.c_str(), &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 2000);
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);
}

TEST_F(SqliteStore, ParallelScanReturnsTheRowsOfOneConnectionInTheSameOrder) {
  auto store = OpenWithSampleMembers(5000);
  // Gaps and a dense stretch of rowids: chunks of uneven row counts, one with none at all.
  ExecSql(dir_ / "m.db", "DELETE FROM members WHERE rowid BETWEEN 1200 AND 2100 OR rowid % 7 = 0;"
                         "UPDATE members SET rowid = rowid + 100000 WHERE rowid > 4900;");
  auto parallel = ScanRows(*store, 300);
  auto single = ScanRows(*Open(false, 1), 300);
  ASSERT_GT(single.size(), 3000u);
  EXPECT_EQ(parallel, single);
  EXPECT_EQ(store->Scan(300)->row_count, static_cast<int64_t>(single.size()));
  // in rowid order
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ / "m.db").c_str(), &db), SQLITE_OK);
  sqlite3_stmt* ids = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT member_id FROM members ORDER BY rowid", -1, &ids, nullptr), SQLITE_OK);
  size_t i = 0;
  for (; sqlite3_step(ids) == SQLITE_ROW && i < parallel.size(); ++i) {
    std::string id(reinterpret_cast<const char*>(sqlite3_column_text(ids, 0)));
    ASSERT_EQ(parallel[i].substr(0, id.size() + 1), id + "|") << i;
  }
  EXPECT_EQ(i, parallel.size());
  sqlite3_finalize(ids);
  sqlite3_close(db);
}

TEST_F(SqliteStore, ParallelScanKeepsItsSnapshotWhileAnotherProgramWrites) {
  auto store = OpenWithSampleMembers(4000);
  auto before = ScanRows(*Open(false, 1), 250);
  auto scan = store->Scan(250);
  ASSERT_TRUE(scan.ok());
  EXPECT_EQ(scan->data_version, 4000);
  // Before the first batch is read: deletes and updates in every chunk, and new rows.
  ExecSql(dir_ / "m.db", "DELETE FROM members WHERE rowid % 3 = 0;"
                         "UPDATE members SET achternaam = 'Changed' WHERE rowid % 5 = 0;"
                         "INSERT INTO members (member_id, achternaam) VALUES ('late-1', 'Laat');");
  EXPECT_EQ(CollectRows(*scan->reader, 250), before);
  scan->reader.reset();
  auto after = ScanRows(*store, 250);
  EXPECT_LT(after.size(), before.size());
  EXPECT_EQ(store->Scan()->data_version, *store->DataVersion());
}

TEST_F(SqliteStore, ATableWithoutRowidsIsScannedOnOneConnection) {
  ExecSql(dir_ / "m.db", "CREATE TABLE members (member_id TEXT PRIMARY KEY, _version INTEGER) WITHOUT ROWID;");
  auto store = OpenWithSampleMembers(2000);
  auto rows = ScanRows(*store, 300);
  EXPECT_EQ(rows.size(), 2000u);
  EXPECT_EQ(rows, ScanRows(*Open(false, 1), 300));
}

TEST_F(SqliteStore, ImportIsAllOrNothing) {
  auto store = Open();
  SampleOptions sample;
  sample.members = 100;
  auto batches = *(*MakeSampleMembers(registry_, sample))->ToRecordBatches();
  batches.push_back(batches[0]);  // the same member ids again
  auto reader = *arrow::RecordBatchReader::Make(batches, batches[0]->schema());
  auto imported = store->ImportRaw(*reader);
  ASSERT_FALSE(imported.ok());
  EXPECT_NE(imported.status().message().find("duplicate"), std::string::npos);
  EXPECT_EQ(store->Scan()->row_count, 0);
  EXPECT_EQ(*store->DataVersion(), 0);
}

TEST_F(SqliteStore, MissingCorruptAndUnknownStores) {
  StoreOptions options;
  auto missing = OpenMemberStore("sqlite:" + (dir_ / "absent.db").string(), registry_, options);
  EXPECT_TRUE(missing.status().IsIOError());
  EXPECT_NE(missing.status().message().find("absent.db"), std::string::npos);
  std::ofstream(dir_ / "garbage.db") << std::string(4096, 'x');
  auto corrupt = OpenMemberStore("sqlite:" + (dir_ / "garbage.db").string(), registry_, options);
  EXPECT_TRUE(corrupt.status().IsIOError());
  EXPECT_NE(corrupt.status().message().find("not a SQLite database"), std::string::npos);
  auto unknown = OpenMemberStore("mysql://db/members", registry_, options);
  EXPECT_TRUE(unknown.status().IsInvalid());
  EXPECT_NE(unknown.status().message().find("mysql://db/members"), std::string::npos);
}

TEST_F(SqliteStore, ARegistryThatGrowsAddsItsColumn) {
  {
    auto store = Open();
    ASSERT_TRUE(store->Insert(Member("Eerder")).ok());
  }
  std::ifstream in(std::string(MEMBERLAKE_SOURCE_DIR) + "/config/fields.toml");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  text.insert(text.find("[[calculated]]"), "[[field]]\nname = \"helm_maat\"\ntype = \"enum\"\nvalues = [\"S\", \"M\", \"L\"]\n\n");
  registry_ = *model::FieldRegistry::LoadString(text, "grown.toml");
  auto store = Open(false);
  auto member = Member("Later");
  member.emplace_back("helm_maat", "m");
  auto added = store->Insert(member);
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  EXPECT_EQ(Field(*added, "helm_maat"), "M");
  auto scan = store->Scan();
  ASSERT_TRUE(scan.ok());
  auto table = *scan->reader->ToTable();
  EXPECT_EQ(table->num_rows(), 2);
  EXPECT_EQ(table->GetColumnByName("helm_maat")->null_count(), 1);  // the older member
}

// Another program on the same file: a plain sqlite3 connection, as the sqlite3 shell uses.
class OtherProgram {
 public:
  explicit OtherProgram(const fs::path& path) { sqlite3_open(path.c_str(), &db_); sqlite3_busy_timeout(db_, 2000); }
  ~OtherProgram() { sqlite3_close(db_); }
  void Exec(const std::string& sql) {
    char* error = nullptr;
    int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error);
    EXPECT_EQ(rc, SQLITE_OK) << sql << ": " << (error ? error : "");
    sqlite3_free(error);
  }
  // The first column of the first row as text ("<null>" for NULL, "<none>" without a row).
  std::string Query(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sqlite3_errmsg(db_);
    std::string out = "<none>";
    if (sqlite3_step(stmt) == SQLITE_ROW) {
      out = sqlite3_column_type(stmt, 0) == SQLITE_NULL ? "<null>" : reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

std::string Values(const std::vector<ChangeEntry>& changes) {
  std::string out;
  for (const auto& c : changes) {
    out += (c.op == ChangeOp::kInsert ? "insert " : c.op == ChangeOp::kUpdate ? "update " : "delete ") + c.member_id + ";";
  }
  return out;
}

TEST_F(SqliteStore, ChangesByAnotherProgramAreCapturedAndOwnWritesLoggedOnce) {
  auto store = Open();
  auto a = store->Insert(Member("Jansen"));
  ASSERT_TRUE(a.ok());
  const std::string id = Field(*a, "member_id");
  EXPECT_EQ(Values(*store->ChangesSince(0)), "insert " + id + ";");  // once, not twice
  const int64_t before = *store->DataVersion();

  OtherProgram other(dir_ / "m.db");
  other.Exec("INSERT INTO members (member_id, voornaam, achternaam, status, lidmaatschap, regio) "
             "VALUES ('ext-1', 'Piet', 'Bakker', 'Actief', 'Donateur', 'Oost')");
  other.Exec("UPDATE members SET regio = 'Limburg' WHERE member_id = '" + id + "'");
  other.Exec("DELETE FROM members WHERE member_id = 'ext-1'");
  EXPECT_EQ(Values(*store->ChangesSince(before)), "insert ext-1;update " + id + ";delete ext-1;");
  EXPECT_EQ(*store->DataVersion(), before + 3);
  // The other program's edit moved the member's version: a client holding the old one conflicts.
  auto current = store->Get(id);
  ASSERT_TRUE(current.ok());
  EXPECT_EQ(current->version, before + 2);
  EXPECT_EQ(Field(*current, "regio"), "Limburg");
  EXPECT_TRUE(store->Update(id, {{"regio", "Oost"}}, a->version).status().IsAlreadyExists());
  auto updated = store->Update(id, {{"regio", "Oost"}}, current->version);
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  EXPECT_EQ(updated->version, before + 4);
  EXPECT_EQ(*store->DataVersion(), before + 4);
  EXPECT_EQ(Values(*store->ChangesSince(before + 3)), "update " + id + ";");
  ASSERT_TRUE(store->Delete(id, updated->version).ok());
  EXPECT_EQ(Values(*store->ChangesSince(before + 4)), "delete " + id + ";");
  // Changing a member's id is the old id leaving and the new one arriving.
  auto b = store->Insert(Member("Visser"));
  other.Exec("UPDATE members SET member_id = 'renamed' WHERE member_id = '" + Field(*b, "member_id") + "'");
  EXPECT_EQ(Values(*store->ChangesSince(b->version)), "delete " + Field(*b, "member_id") + ";insert renamed;");
}

// A program that turns recursive triggers on: the trigger's own stamp of _version must not be
// logged again (nor recurse until SQLite's trigger depth limit fails the write).
TEST_F(SqliteStore, RecursiveTriggersInAnotherProgramLogOnce) {
  auto store = Open();
  auto a = store->Insert(Member("Jansen"));
  ASSERT_TRUE(a.ok());
  const std::string id = Field(*a, "member_id");
  OtherProgram other(dir_ / "m.db");
  other.Exec("PRAGMA recursive_triggers = ON");
  other.Exec("UPDATE members SET regio = 'Oost' WHERE member_id = '" + id + "'");
  other.Exec("INSERT INTO members (member_id, voornaam, achternaam, status, lidmaatschap, regio) "
             "VALUES ('ext-2', 'Piet', 'Bakker', 'Actief', 'Donateur', 'Oost')");
  EXPECT_EQ(Values(*store->ChangesSince(a->version)), "update " + id + ";insert ext-2;");
  EXPECT_EQ(store->Get("ext-2")->version, a->version + 2);
}

// A table the club's programs made and filled before memberlake opened it: no _version, a
// number stored as INTEGER, a spreadsheet date, and columns memberlake does not know.
TEST_F(SqliteStore, EditsKeepWhatTheyDoNotKnow) {
  {
    OtherProgram club(dir_ / "m.db");
    club.Exec("CREATE TABLE members (member_id TEXT PRIMARY KEY, lidnummer INTEGER, voornaam TEXT, achternaam TEXT,"
              " geboortedatum TEXT, status TEXT, lidmaatschap TEXT, regio TEXT, status_history TEXT, foto BLOB)");
    club.Exec("INSERT INTO members VALUES ('club-1', 1234, 'Jan', 'Jansen', '29-11-1971', 'Actief', 'Gewoon lid',"
              " 'Utrecht', '[{\"from\": \"Aangemeld\", \"to\": \"Actief\"}]', x'00ff10')");
    club.Exec("INSERT INTO members VALUES ('club-2', '77 Donateur', 'Piet', 'Bakker', NULL, 'Actief', 'Donateur',"
              " 'Oost', NULL, NULL)");
  }
  auto store = Open(false);
  auto member = store->Get("club-1");
  ASSERT_TRUE(member.ok()) << member.status().ToString();
  EXPECT_EQ(member->version, 0);  // no version: counts as 0
  OtherProgram club(dir_ / "m.db");
  const std::string sql_before = club.Query("SELECT quote(foto) || typeof(lidnummer) || status_history FROM members WHERE member_id = 'club-1'");
  auto updated = store->Update("club-1", {{"regio", "Oost"}}, 0);
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  EXPECT_GT(updated->version, 0);
  EXPECT_EQ(Field(*updated, "geboortedatum"), "1971-11-29");  // the answer is canonical...
  EXPECT_EQ(club.Query("SELECT regio FROM members WHERE member_id = 'club-1'"), "Oost");
  // ...but only the changed columns were written: the rest keeps its bytes and types.
  EXPECT_EQ(club.Query("SELECT geboortedatum FROM members WHERE member_id = 'club-1'"), "29-11-1971");
  EXPECT_EQ(club.Query("SELECT quote(foto) || typeof(lidnummer) || status_history FROM members WHERE member_id = 'club-1'"),
            sql_before);
  EXPECT_EQ(sql_before, "X'00FF10'integer[{\"from\": \"Aangemeld\", \"to\": \"Actief\"}]");
  EXPECT_EQ(club.Query("SELECT voornaam FROM members WHERE member_id = 'club-1'"), "Jan");
  EXPECT_NE(club.Query("SELECT updated_at FROM members WHERE member_id = 'club-1'"), "<null>");
  // A row without a version can be deleted with expected version 0.
  EXPECT_TRUE(store->Delete("club-2", 1).IsAlreadyExists());
  ASSERT_TRUE(store->Delete("club-2", 0).ok());
  EXPECT_EQ(club.Query("SELECT COUNT(*) FROM members"), "1");
}

// A database made before change capture declared _version NOT NULL: it is upgraded on open
// so that other programs' rows (without a version) can be written, and keeps its data.
TEST_F(SqliteStore, OldDatabasesAreUpgradedOnOpen) {
  {
    OtherProgram old(dir_ / "m.db");
    old.Exec("CREATE TABLE members (\"member_id\" TEXT PRIMARY KEY, \"voornaam\" TEXT, _version INTEGER NOT NULL, \"x\" TEXT)");
    old.Exec("CREATE TABLE changes (data_version INTEGER PRIMARY KEY AUTOINCREMENT, member_id TEXT NOT NULL, op TEXT NOT NULL, at TEXT NOT NULL)");
    old.Exec("INSERT INTO changes (member_id, op, at) VALUES ('old-1', 'insert', '2025-01-01T00:00:00.000Z')");
    old.Exec("INSERT INTO members VALUES ('old-1', 'Oud', 1, 'kept')");
  }
  auto store = Open(false);
  EXPECT_EQ(*store->DataVersion(), 1);
  OtherProgram other(dir_ / "m.db");
  other.Exec("INSERT INTO members (member_id, voornaam, achternaam, status, lidmaatschap, regio) "
             "VALUES ('new-1', 'Nieuw', 'Lid', 'Actief', 'Donateur', 'Oost')");
  EXPECT_EQ(*store->DataVersion(), 2);
  EXPECT_EQ(store->Get("new-1")->version, 2);
  EXPECT_EQ(other.Query("SELECT x || _version FROM members WHERE member_id = 'old-1'"), "kept1");
  EXPECT_EQ(other.Query("SELECT \"notnull\" FROM pragma_table_info('members') WHERE name = '_version'"), "0");
  // Opening again changes nothing more.
  store.reset();
  store = Open(false);
  EXPECT_EQ(*store->DataVersion(), 2);
}

TEST(SampleMembers, DeterministicRealisticAndSomewhatDirty) {
  auto registry = *model::FieldRegistry::LoadDefault();
  SampleOptions options;
  options.members = 20000;
  options.seed = 11;
  auto first = *(*MakeSampleMembers(registry, options))->ToTable();
  auto again = *(*MakeSampleMembers(registry, options))->ToTable();
  options.seed = 12;
  auto other = *(*MakeSampleMembers(registry, options))->ToTable();
  EXPECT_EQ(first->num_rows(), 20000);
  EXPECT_TRUE(first->Equals(*again));
  EXPECT_FALSE(first->Equals(*other));

  auto status = *first->GetColumnByName("status")->chunk(0)->View(arrow::utf8());
  auto statuses = std::static_pointer_cast<arrow::StringArray>(status);
  auto regio = std::static_pointer_cast<arrow::StringArray>(first->GetColumnByName("regio")->chunk(0));
  auto postcode = std::static_pointer_cast<arrow::StringArray>(first->GetColumnByName("postcode")->chunk(0));
  int64_t actief = 0, utrecht = 0, utrecht_postcode_fits = 0;
  for (int64_t i = 0; i < statuses->length(); ++i) {
    if (statuses->GetView(i) == "Actief") ++actief;
    if (regio->GetView(i) == "Utrecht" && !postcode->IsNull(i)) {
      ++utrecht;
      int number = std::stoi(std::string(postcode->GetView(i).substr(0, 4)));
      if (number >= 3400 && number <= 3999) ++utrecht_postcode_fits;
    }
  }
  EXPECT_NEAR(static_cast<double>(actief) / statuses->length(), 0.8, 0.03);
  EXPECT_GT(utrecht, 1000);
  EXPECT_GE(utrecht_postcode_fits, utrecht - utrecht / 20);  // dirty rows may respell a few

  // the transform's view of the dirt: a few percent repaired, about 0.5% rejected
  auto normalized = model::MemberNormalizer(registry).Normalize(*first->CombineChunksToBatch().ValueOrDie());
  ASSERT_TRUE(normalized.ok());
  EXPECT_NEAR(static_cast<double>(normalized->rejected_rows) / 20000, 0.005, 0.003);
}

}  // namespace
}  // namespace memberlake::store
