// Member numbers (lidnummer) on a DynamoDB table that other programs write too.
//
// Unique against every member in the table, not only the numbers memberlake handed out: a
// number is free when a strongly consistent Scan finds no other item holding it, in either
// type (N 1234, S "1234", S "1234 Donateur"). Memberlake's own writers are also serialised by
// claim items in the changes table (p = "lidnummer", v = number, member_id = holder), written
// in the same transaction as the member; a claim whose holder no longer holds the number (the
// member was renumbered or deleted by another program) is taken over, conditionally on that
// stale holder. Limit: another program writing the same number between the Scan and the
// transaction is not seen (DynamoDB has no uniqueness on a non-key attribute; a GSI on
// lidnummer would not help either, and would make the club's writes fail on items whose
// lidnummer has the other type).
//
// New numbers come from the club's counters table when configured (UpdateItem ADD on its
// `member_number` attribute, the item keyed by the table's hash key = `counter_id`), else
// from memberlake's own counter item; a number the table already holds is skipped.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <arrow/result.h>
#include <nlohmann/json.hpp>

#include "store/dynamodb_client.h"

namespace memberlake::store {

struct MemberNumberOptions {
  std::string members_table;
  std::string changes_table;
  std::string counters_table;                  // empty: memberlake's own counter
  std::string counter_id = "member_number";    // the counters item's key value
  std::string counter_attribute = "member_number";
};

class DynamoDbMemberNumbers {
 public:
  DynamoDbMemberNumbers(MemberNumberOptions options, DynamoDbClient* client)
      : options_(std::move(options)), client_(client) {}

  // Checks the counters table exists and learns its key name (Invalid naming it otherwise).
  arrow::Status Open();

  // The next number nobody in the table holds.
  arrow::Result<int64_t> Next();

  // OK when no member other than `member_id` holds `number`; LidnummerInUse otherwise.
  arrow::Status CheckFree(int64_t number, const std::string& member_id);

  // The claim write for a TransactWriteItems: takes a free claim, keeps this member's own, or
  // takes over a stale one (call after CheckFree).
  arrow::Result<nlohmann::json> ClaimWrite(int64_t number, const std::string& member_id);

  // The claim item itself (imports write it with BatchWriteItem).
  static nlohmann::json ClaimItem(int64_t number, const std::string& member_id);

  // Best effort: a crash leaves a stale claim, which ClaimWrite takes over later.
  void Release(std::optional<int64_t> number, const std::string& member_id);

  // Raises memberlake's own counter to at least `floor` (after imports with their own numbers).
  arrow::Status RaiseOwnCounter(int64_t floor);

 private:
  arrow::Result<int64_t> Increment();
  arrow::Result<std::optional<int64_t>> HighestInTable();

  MemberNumberOptions options_;
  DynamoDbClient* client_;
  std::string counters_key_;  // the counters table's hash key name
};

}  // namespace memberlake::store
