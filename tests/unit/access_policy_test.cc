#include "server/access_policy.h"

#include <gtest/gtest.h>

namespace memberlake::server {
namespace {

class AccessPolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_ = *model::FieldRegistry::LoadDefault();
    policy_ = *AccessPolicy::LoadDefault(registry_);
    catalog_ = *query::ReportCatalog::LoadDefault(*registry_);
  }
  AccessGrant Grant(std::vector<std::string> groups) const {
    return policy_->GrantFor(Principal{"someone", std::move(groups), "jwt"});
  }
  const query::ReportSpec& Report(const std::string& name) const { return **catalog_->Find(name); }

  std::shared_ptr<const model::FieldRegistry> registry_;
  std::shared_ptr<const AccessPolicy> policy_;
  std::shared_ptr<const query::ReportCatalog> catalog_;
};

TEST_F(AccessPolicyTest, PermissionWithoutRegionGrantsNothing) {
  for (const char* role : {"Members_CRUD", "Members_Read", "Members_Export", "Communication_Read"}) {
    AccessGrant grant = Grant({role});
    EXPECT_TRUE(grant.actions.empty()) << role;
    EXPECT_FALSE(policy_->ScopeFor(grant, {}).ok()) << role;
  }
  EXPECT_TRUE(Grant({"Regio_Utrecht"}).actions.empty());
  // Auditors need no region; system CRUD covers every region by itself.
  EXPECT_TRUE(Grant({"System_Logs_Read"}).Can(Action::kAudit));
  EXPECT_TRUE(Grant({"System_CRUD"}).all_regions);
}

TEST_F(AccessPolicyTest, RegionRolesGiveTheScope) {
  AccessGrant grant = Grant({"Members_Read", "Regio_Utrecht", "Regio_groningen-drenthe", "Regio_Atlantis"});
  EXPECT_EQ(grant.regions, (std::vector<std::string>{"Groningen/Drenthe", "Utrecht"}));
  auto scope = *policy_->ScopeFor(grant, {});
  EXPECT_FALSE(scope.all());
  EXPECT_EQ(scope.regions(), grant.regions);
  auto narrowed = *policy_->ScopeFor(grant, {"Utrecht"});
  EXPECT_EQ(narrowed.regions(), std::vector<std::string>{"Utrecht"});
  auto other = policy_->ScopeFor(grant, {"Limburg"});
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(DenialOf(other.status()), DenialKind::kForbidden);
  auto unknown = policy_->ScopeFor(grant, {"Atlantis"});
  ASSERT_FALSE(unknown.ok());
  EXPECT_FALSE(DenialOf(unknown.status()).has_value());
  EXPECT_TRUE(policy_->ScopeFor(Grant({"Members_Read", "Regio_All"}), {})->all());
}

TEST_F(AccessPolicyTest, OnlyAllRegionsMayGenerate) {
  EXPECT_TRUE(Grant({"Members_CRUD", "Regio_All"}).Can(Action::kGenerate));
  EXPECT_FALSE(Grant({"Members_CRUD", "Regio_Utrecht"}).Can(Action::kGenerate));
  EXPECT_FALSE(Grant({"Members_Export", "Regio_All"}).Can(Action::kGenerate));
}

TEST_F(AccessPolicyTest, RestrictedFieldsOnlyForCrudRoles) {
  query::QuerySpec iban;
  iban.select = {"lidnummer", "bankrekeningnummer"};
  EXPECT_TRUE(policy_->AuthorizeQuery(Grant({"Members_CRUD", "Regio_Utrecht"}), iban, false).ok());
  auto denied = policy_->AuthorizeQuery(Grant({"Members_Export", "Regio_All"}), iban, true);
  ASSERT_FALSE(denied.ok());
  EXPECT_NE(denied.status().message().find("bankrekeningnummer"), std::string::npos);
  // Filtering or grouping on a restricted field would reveal it too.
  query::QuerySpec filtered;
  filtered.where.push_back(*query::ParseFilter("betaalwijze=Incasso"));
  EXPECT_FALSE(policy_->AuthorizeQuery(Grant({"Members_Read", "Regio_All"}), filtered, false).ok());
  // An empty select becomes the visible columns, without restricted ones.
  auto all = *policy_->AuthorizeQuery(Grant({"Members_Read", "Regio_All"}), query::QuerySpec(), false);
  EXPECT_NE(std::find(all.select.begin(), all.select.end(), "email"), all.select.end());
  EXPECT_EQ(std::find(all.select.begin(), all.select.end(), "bankrekeningnummer"), all.select.end());
  EXPECT_EQ(std::find(all.select.begin(), all.select.end(), "notities"), all.select.end());
}

TEST_F(AccessPolicyTest, CommunicationRolesSeeCommunicationViewsOnly) {
  AccessGrant comm = Grant({"Communication_Read", "Regio_Utrecht"});
  EXPECT_TRUE(policy_->AuthorizeReport(comm, Report("email-list"), false).ok());
  EXPECT_TRUE(policy_->AuthorizeReport(comm, Report("address-stickers"), false).ok());
  EXPECT_FALSE(policy_->AuthorizeReport(comm, Report("member-overview"), false).ok());
  EXPECT_FALSE(policy_->AuthorizeReport(comm, Report("regional-stats"), false).ok());
  EXPECT_FALSE(policy_->AuthorizeReport(comm, Report("email-list"), /*is_export=*/true).ok());
  EXPECT_TRUE(policy_->AuthorizeReport(Grant({"Communication_Export", "Regio_Utrecht"}), Report("email-list"), true).ok());
  EXPECT_FALSE(policy_->AuthorizeQuery(comm, query::QuerySpec(), false).ok());
  EXPECT_FALSE(policy_->AuthorizeMemberRead(comm, "m1", "Utrecht").ok());
  EXPECT_FALSE(policy_->AuthorizeReport(Grant({"Members_Read", "Regio_All"}), Report("financial-view"), false).ok());
}

TEST_F(AccessPolicyTest, MembersOutsideTheScopeLookAbsent) {
  AccessGrant grant = Grant({"Members_CRUD", "Regio_Utrecht"});
  EXPECT_TRUE(policy_->AuthorizeMemberRead(grant, "m1", "Utrecht").ok());
  auto other = policy_->AuthorizeMemberRead(grant, "m1", "Limburg");
  auto absent = policy_->AuthorizeMemberRead(grant, "m1", std::nullopt);
  ASSERT_TRUE(other.IsKeyError());
  EXPECT_EQ(other.message(), absent.message());
  EXPECT_TRUE(policy_->AuthorizeMemberWrite(grant, Action::kDelete, "m1", "Limburg", {}).IsKeyError());
}

// Legacy rows keep old spellings; the lake normalises them, so the by-id checks must too.
TEST_F(AccessPolicyTest, StoredLegacyRegionSpellingsAreNormalisedForEveryByIdCheck) {
  AccessGrant utrecht = Grant({"Members_CRUD", "Regio_Utrecht"});
  AccessGrant noord = Grant({"Members_CRUD", "Regio_Noord-Holland"});
  EXPECT_TRUE(policy_->AuthorizeMemberRead(utrecht, "m1", "utrecht ").ok());
  EXPECT_TRUE(policy_->AuthorizeMemberRead(noord, "m1", "noord holland").ok());
  EXPECT_TRUE(policy_->AuthorizeMemberRead(noord, "m1", "N-Holland").ok());  // a registry alias
  EXPECT_TRUE(policy_->AuthorizeMemberWrite(utrecht, Action::kUpdate, "m1", "utrecht ", {{"voornaam", "A"}}).ok());
  EXPECT_TRUE(policy_->AuthorizeMemberWrite(noord, Action::kDelete, "m1", "noord holland", {}).ok());
  EXPECT_TRUE(policy_->AuthorizeMemberWrite(noord, Action::kCreate, "", std::nullopt, {{"regio", "NH"}}).ok());
  // Still nothing across regions, whatever the spelling.
  EXPECT_TRUE(policy_->AuthorizeMemberRead(utrecht, "m1", "noord holland").IsKeyError());
  EXPECT_TRUE(policy_->AuthorizeMemberWrite(utrecht, Action::kDelete, "m1", "noord holland", {}).IsKeyError());
  EXPECT_FALSE(policy_->AuthorizeMemberWrite(utrecht, Action::kCreate, "", std::nullopt, {{"regio", "NH"}}).ok());
  EXPECT_EQ(policy_->CanonicalRegion(std::string("groningen en drenthe")), "Groningen/Drenthe");
  EXPECT_EQ(policy_->CanonicalRegion(std::string("Atlantis")), std::nullopt);
}

TEST_F(AccessPolicyTest, WritesStayInScopeAndStatusApproversChangeStatusOnly) {
  AccessGrant crud = Grant({"Members_CRUD", "Regio_Utrecht"});
  EXPECT_TRUE(policy_->AuthorizeMemberWrite(crud, Action::kCreate, "", std::nullopt, {{"regio", "utrecht"}}).ok());
  EXPECT_FALSE(policy_->AuthorizeMemberWrite(crud, Action::kCreate, "", std::nullopt, {{"regio", "Limburg"}}).ok());
  EXPECT_FALSE(policy_->AuthorizeMemberWrite(crud, Action::kCreate, "", std::nullopt, {{"voornaam", "A"}}).ok());
  EXPECT_FALSE(policy_->AuthorizeMemberWrite(crud, Action::kUpdate, "m", "Utrecht", {{"regio", "Limburg"}}).ok());
  AccessGrant approver = Grant({"Members_Status_Approve", "Regio_Utrecht"});
  EXPECT_TRUE(policy_->AuthorizeMemberWrite(approver, Action::kUpdate, "m", "Utrecht", {{"status", "Actief"}}).ok());
  EXPECT_FALSE(policy_->AuthorizeMemberWrite(approver, Action::kUpdate, "m", "Utrecht",
                                             {{"status", "Actief"}, {"email", "x@y.nl"}}).ok());
  EXPECT_FALSE(policy_->AuthorizeMemberWrite(approver, Action::kDelete, "m", "Utrecht", {}).ok());
  EXPECT_FALSE(policy_->AuthorizeMemberWrite(Grant({"Members_Read", "Regio_All"}), Action::kUpdate, "m", "Utrecht",
                                             {{"status", "Actief"}}).ok());
}

TEST_F(AccessPolicyTest, FilesFollowTheScope) {
  auto file = [](lake::SnapshotFileKind kind, std::string region) {
    lake::SnapshotFile f;
    f.kind = kind;
    f.region = std::move(region);
    return f;
  };
  auto regional = file(lake::SnapshotFileKind::kRegional, "Utrecht");
  auto other = file(lake::SnapshotFileKind::kRegional, "Limburg");
  auto full = file(lake::SnapshotFileKind::kFull, "");
  AccessGrant grant = Grant({"Members_Export", "Regio_Utrecht"});
  EXPECT_TRUE(policy_->MaySeeFile(grant, regional));
  EXPECT_FALSE(policy_->MaySeeFile(grant, other));
  EXPECT_FALSE(policy_->MaySeeFile(grant, full));
  EXPECT_TRUE(policy_->MaySeeFile(Grant({"Members_Export", "Regio_All"}), full));
}

TEST_F(AccessPolicyTest, BadPolicyFilesNameTheProblem) {
  auto unknown_action = AccessPolicy::LoadString("[permission.X]\nactions = [\"fly\"]\n", "t.toml", registry_);
  ASSERT_FALSE(unknown_action.ok());
  EXPECT_NE(unknown_action.status().message().find("fly"), std::string::npos);
  auto unknown_key = AccessPolicy::LoadString("[permission.X]\nactions = []\ncolour = 1\n", "t.toml", registry_);
  ASSERT_FALSE(unknown_key.ok());
  EXPECT_NE(unknown_key.status().message().find("colour"), std::string::npos);
  EXPECT_FALSE(AccessPolicy::LoadString("[permission.X]\nreports = \"some\"\n", "t.toml", registry_).ok());
}

}  // namespace
}  // namespace memberlake::server
