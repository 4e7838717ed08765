// Every configuration file the project reads (server config, field registry, access policy,
// reports, API keys) and the keys presented against a loaded key file: errors, never crashes.
#include "fuzz_support.h"
#include "model/field_registry.h"
#include "query/report_catalog.h"
#include "server/access_policy.h"
#include "server/api_keys.h"
#include "server/server_config.h"

using namespace memberlake;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto registry = *model::FieldRegistry::LoadDefault();
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 5) {
    case 0:
      (void)server::ServerConfig::LoadString(text, "/nonexistent");
      break;
    case 1:
      (void)model::FieldRegistry::LoadString(text, "fuzz.toml");
      break;
    case 2:
      (void)server::AccessPolicy::LoadString(text, "fuzz.toml", registry);
      break;
    case 3:
      (void)query::ReportCatalog::LoadString(text, "fuzz.toml", *registry);
      break;
    default: {
      auto parts = fuzz::Split(data + 1, size - 1, 2);
      auto keys = server::ApiKeyStore::LoadString(parts[0], "keys.toml");
      if (keys.ok()) (void)(*keys)->Authenticate(parts[1]);
      break;
    }
  }
  return 0;
}
