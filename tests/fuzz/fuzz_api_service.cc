// The whole API service behind the HTTP edge: method, path, query, headers and body from the
// input, sent as a regional member administrator (Utrecht). Property: no answer carries a
// member of another region, whatever the request (domain.md: a regional user never receives a
// row of another region).
#include <nlohmann/json.hpp>

#include "fuzz_support.h"
#include "fuzz_world.h"
#include "server/api_service.h"
#include "server/server_config.h"

using namespace memberlake;

namespace {

struct World {
  std::unique_ptr<server::ApiService> service;
  std::string key;
};

World& TheWorld() {
  static World world = [] {
    const fuzz::FuzzWorld& files = fuzz::TheFuzzWorld();
    return World{*server::ApiService::Make(*server::ServerConfig::LoadFile(files.config_path)), files.api_key};
  }();
  return world;
}

// Every "regio" member of every object in the answer.
void CheckRegions(const nlohmann::json& node, const std::string& body) {
  if (node.is_object()) {
    if (auto it = node.find("regio"); it != node.end() && it->is_string()) {
      fuzz::Require(*it == "Utrecht", "no member of another region", body.substr(0, 400));
    }
    for (const auto& [name, value] : node.items()) CheckRegions(value, body);
  } else if (node.is_array()) {
    for (const auto& value : node) CheckRegions(value, body);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  World& world = TheWorld();
  auto parts = fuzz::Split(data, size, 5);
  static const char* kMethods[] = {"GET", "POST", "PATCH", "PUT", "DELETE", "OPTIONS", "HEAD"};
  server::ApiRequest request;
  request.method = parts[0].size() == 1 ? kMethods[static_cast<unsigned char>(parts[0][0]) % 7] : parts[0];
  request.path = parts[1].empty() || parts[1][0] != '/' ? "/api/" + parts[1] : parts[1];
  for (const std::string& pair : fuzz::Split(reinterpret_cast<const uint8_t*>(parts[2].data()), parts[2].size(), 8)) {
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    request.params.emplace(pair.substr(0, eq), eq == std::string::npos ? "" : pair.substr(eq + 1));
  }
  request.body = parts[3];
  if (!parts[4].empty()) request.headers["content-type"] = parts[4];
  request.headers["x-api-key"] = world.key;
  server::ApiResponse response = world.service->Handle(request);
  if (response.status == 200 && response.content_type.find("json") != std::string::npos) {
    auto json = nlohmann::json::parse(response.body, nullptr, false);
    if (!json.is_discarded()) CheckRegions(json, response.body);
  }
  return 0;
}
