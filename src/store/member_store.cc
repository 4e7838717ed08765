#include "store/member_store.h"

#include "store/dynamodb_member_store.h"
#include "store/sqlite_member_store.h"

namespace memberlake::store {
namespace {

class ChangeLogGapDetail : public arrow::StatusDetail {
 public:
  const char* type_id() const override { return "memberlake::store::ChangeLogGap"; }
  std::string ToString() const override { return "change log gap"; }
};

}  // namespace

arrow::Status ChangeLogGap(const std::string& why) {
  return arrow::Status(arrow::StatusCode::Invalid, why, std::make_shared<ChangeLogGapDetail>());
}

bool IsChangeLogGap(const arrow::Status& status) {
  return status.detail() != nullptr && status.detail()->type_id() == std::string("memberlake::store::ChangeLogGap");
}

arrow::Result<std::unique_ptr<MemberStore>> OpenMemberStore(
    const std::string& uri, std::shared_ptr<const model::FieldRegistry> registry,
    const StoreOptions& options) {
  for (const char* prefix : {"sqlite://", "sqlite:"}) {
    std::string p(prefix);
    if (uri.rfind(p, 0) == 0 && uri.size() > p.size()) {
      return OpenSqliteMemberStore(uri.substr(p.size()), std::move(registry), options);
    }
  }
  const std::string dynamodb = "dynamodb://";
  if (uri.rfind(dynamodb, 0) == 0) return OpenDynamoDbMemberStore(uri.substr(dynamodb.size()), std::move(registry), options);
  return arrow::Status::Invalid("unsupported store URI '", uri, "': expected sqlite:PATH or dynamodb://TABLE?endpoint=...");
}

}  // namespace memberlake::store
