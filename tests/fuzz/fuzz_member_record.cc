// Member JSON as the CLI and the API take it, through the normaliser. Property: a record that
// normalises survives JSON and normalisation again unchanged (canonical text is a fixed point).
#include "fuzz_support.h"
#include "model/field_registry.h"
#include "model/member_json.h"
#include "model/member_normalizer.h"

using namespace memberlake;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto registry = *model::FieldRegistry::LoadDefault();
  static const model::MemberNormalizer normalizer(registry);
  auto fields = model::ParseMemberJson(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!fields.ok()) return 0;
  auto record = normalizer.NormalizeRecord(*fields);
  if (!record.ok()) return 0;
  const std::string json = model::MemberToJson(*registry, *record, std::nullopt);
  auto again_fields = model::ParseMemberJson(json);
  fuzz::Require(again_fields.ok(), "canonical JSON parses", json);
  auto again = normalizer.NormalizeRecord(*again_fields);
  fuzz::Require(again.ok(), "a canonical record normalises", again.ok() ? json : again.status().message());
  fuzz::Require(*again == *record, "normalisation is idempotent", json);
  return 0;
}
