// A small club for the fuzz targets that drive whole services: a seeded SQLite store, one
// generated snapshot, an API key of an Utrecht member administrator and a server config over
// them, made once per process in a private temp folder.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "jobs/generate_snapshot.h"
#include "model/field_registry.h"
#include "server/api_keys.h"
#include "store/member_store.h"
#include "store/sample_members.h"

namespace memberlake::fuzz {

struct FuzzWorld {
  std::filesystem::path dir;
  std::string config_path;  // [data] store + lake, [auth] the key file
  std::string api_key;      // Members_CRUD + Regio_Utrecht
};

inline const FuzzWorld& TheFuzzWorld() {
  static const FuzzWorld world = [] {
    namespace fs = std::filesystem;
    FuzzWorld w;
    w.dir = fs::temp_directory_path() / ("memberlake-fuzz-" + std::to_string(::getpid()));
    fs::remove_all(w.dir);
    fs::create_directories(w.dir);
    auto registry = *model::FieldRegistry::LoadDefault();
    const std::string store_uri = "sqlite:" + (w.dir / "members.db").string();
    store::StoreOptions create;
    create.create_if_missing = true;
    auto store = *store::OpenMemberStore(store_uri, registry, create);
    store::SampleOptions sample;
    sample.members = 300;
    auto batches = *store::MakeSampleMembers(registry, sample);
    (void)*store->ImportRaw(*batches);
    jobs::GenerateOptions generate;
    generate.as_of = model::CivilDate{2026, 1, 7};
    (void)*jobs::GenerateFromUris(store_uri, (w.dir / "lake").string(), registry, generate);
    auto key = *server::ApiKeyStore::Generate();
    w.api_key = key.key;
    std::ofstream(w.dir / "keys.toml") << *server::ApiKeyStore::TomlEntry("fuzz", key, {"Members_CRUD", "Regio_Utrecht"});
    w.config_path = (w.dir / "server.toml").string();
    std::ofstream(w.config_path) << "[data]\nstore = \"" << store_uri
                                 << "\"\nlake = \"lake\"\nas_of = \"2026-01-07\"\n[auth]\napi_keys_file = \"keys.toml\"\n";
    return w;
  }();
  return world;
}

}  // namespace memberlake::fuzz
