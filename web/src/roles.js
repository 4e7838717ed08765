// What the signed-in caller may do, from GET /api/me (roles resolved by config/access.toml on
// the server). The dashboard leaves out every control a role cannot use; the server decides
// anyway.
export function capabilities(me) {
  const actions = new Set(me.actions || []);
  const allRegions = (me.regions || []).includes("*");
  const read = actions.has("read");
  const allReports = me.reports === "all";
  return {
    read,
    allRegions,
    regions: allRegions ? [] : me.regions || [],
    // the member API, queries, snapshots and the members' reports (not for communication roles)
    members: read && allReports,
    communication: read && (allReports || me.reports === "communication"),
    export: actions.has("export"),
    create: actions.has("create"),
    update: actions.has("update"),
    updateStatus: actions.has("update_status") && !actions.has("update"),
    remove: actions.has("delete"),
    generate: actions.has("generate") && allRegions,
    audit: actions.has("audit"),
    restricted: Boolean(me.restricted_fields),
    // questions to the language model (POST /api/ask): the server says whether it answers them
    ask: Boolean(me.ask) && read && allReports,
  };
}
