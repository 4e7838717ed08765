// members add|get|update|delete|list: live CRUD, JSON in and out.
#include "cli/commands.h"

#include <iostream>
#include <memory>
#include <string>

#include "model/member_json.h"
#include "store/member_store.h"

namespace memberlake::cli {
namespace {

struct MembersOptions {
  std::string store_uri;
  std::string member_id;
  std::string json;  // "-" or empty: read stdin
  int64_t expected_version = -1;
  int64_t offset = 0;
  int64_t limit = 100;
};

arrow::Result<std::string> JsonArgument(const std::string& json) {
  return json.empty() || json == "-" ? ReadStdin() : json;
}

arrow::Status RunMembers(const GlobalOptions& global, const std::string& action,
                         const MembersOptions& o) {
  ARROW_ASSIGN_OR_RAISE(auto store, OpenStore(global, o.store_uri, action == "add"));
  const auto& registry = *store->registry();
  auto print = [&](const store::StoredMember& member) {
    std::cout << model::MemberToJson(registry, member.record, member.version) << "\n";
  };
  if (action == "add") {
    ARROW_ASSIGN_OR_RAISE(std::string text, JsonArgument(o.json));
    ARROW_ASSIGN_OR_RAISE(auto fields, model::ParseMemberJson(text));
    ARROW_ASSIGN_OR_RAISE(auto member, store->Insert(fields));
    print(member);
  } else if (action == "get") {
    ARROW_ASSIGN_OR_RAISE(auto member, store->Get(o.member_id));
    print(member);
  } else if (action == "update") {
    ARROW_ASSIGN_OR_RAISE(std::string text, JsonArgument(o.json));
    ARROW_ASSIGN_OR_RAISE(auto fields, model::ParseMemberJson(text));
    ARROW_ASSIGN_OR_RAISE(auto member, store->Update(o.member_id, fields, o.expected_version));
    print(member);
  } else if (action == "delete") {
    ARROW_RETURN_NOT_OK(store->Delete(o.member_id, o.expected_version));
  } else if (action == "list") {
    ARROW_ASSIGN_OR_RAISE(auto members, store->List(o.offset, o.limit));
    std::cout << "[";
    for (size_t i = 0; i < members.size(); ++i) {
      std::cout << (i ? ",\n " : "") << model::MemberToJson(registry, members[i].record, members[i].version);
    }
    std::cout << "]\n";
  }
  return arrow::Status::OK();
}

}  // namespace

void AddMemberCommands(CLI::App& app, const CommandContext& context) {
  auto* members_cmd = app.add_subcommand("members", "Live member CRUD (JSON in and out)");
  members_cmd->require_subcommand(1);
  auto mo = std::make_shared<MembersOptions>();
  auto add_store = [=](CLI::App* cmd) {
    cmd->add_option("--store", mo->store_uri, "Store URI, e.g. sqlite:var/members.db")->required();
  };
  auto* add = members_cmd->add_subcommand("add", "Validate and insert a member; prints it with its _version");
  add_store(add);
  add->add_option("--json", mo->json, "Member JSON object (default: read stdin)");
  auto* get = members_cmd->add_subcommand("get", "Print one member");
  add_store(get);
  get->add_option("member_id", mo->member_id, "Member id")->required();
  auto* update = members_cmd->add_subcommand("update", "Change fields of a member (optimistic concurrency)");
  add_store(update);
  update->add_option("member_id", mo->member_id, "Member id")->required();
  update->add_option("--expected-version", mo->expected_version, "The _version last read")->required();
  update->add_option("--json", mo->json, "JSON object with the fields to change (null clears; default: stdin)");
  auto* del = members_cmd->add_subcommand("delete", "Delete a member (optimistic concurrency)");
  add_store(del);
  del->add_option("member_id", mo->member_id, "Member id")->required();
  del->add_option("--expected-version", mo->expected_version, "The _version last read")->required();
  auto* list = members_cmd->add_subcommand("list", "List members by lidnummer as a JSON array");
  add_store(list);
  list->add_option("--offset", mo->offset, "Skip this many")->check(CLI::NonNegativeNumber);
  list->add_option("--limit", mo->limit, "At most this many")->check(CLI::PositiveNumber);
  for (auto* cmd : {add, get, update, del, list}) {
    cmd->callback([=] { context.Finish(RunMembers(*context.global, cmd->get_name(), *mo)); });
  }
}

}  // namespace memberlake::cli
