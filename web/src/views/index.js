// Every page of the dashboard: its address (#/...), its title in the menu and which
// capabilities (roles.js) it needs. A page a role cannot use is not in its menu.
import * as ask from "./ask.js";
import * as birthdays from "./birthdays.js";
import * as distributions from "./distributions.js";
import * as exports_ from "./exports.js";
import * as member from "./member.js";
import * as members from "./members.js";
import * as operations from "./operations.js";
import * as overview from "./overview.js";
import * as regions from "./regions.js";

const exact = (path) => (route) => route.path === path;

export const VIEWS = [
  { id: "overview", path: "/", title: "Overzicht", nav: true, match: (r) => r.path === "/" || r.path === "",
    allowed: (c) => c.read, render: overview.render },
  { id: "regions", path: "/regio", title: "Regio's", nav: true, match: exact("/regio"),
    allowed: (c) => c.members, render: regions.render },
  { id: "distributions", path: "/verdeling", title: "Leeftijd en lidmaatschap", nav: true, match: exact("/verdeling"),
    allowed: (c) => c.members, render: distributions.render },
  { id: "birthdays", path: "/verjaardagen", title: "Verjaardagen", nav: true, match: exact("/verjaardagen"),
    allowed: (c) => c.communication, render: birthdays.renderBirthdays },
  { id: "jubilee", path: "/jubilea", title: "ALV-jubilea", nav: true, match: exact("/jubilea"),
    allowed: (c) => c.members, render: birthdays.renderJubilee },
  { id: "members", path: "/leden", title: "Leden", nav: true, match: exact("/leden"),
    allowed: (c) => c.members, render: members.render },
  { id: "member-new", navId: "members", path: "/leden/nieuw", title: "Nieuw lid", match: exact("/leden/nieuw"),
    allowed: (c) => c.members && c.create, render: member.renderCreate },
  { id: "member-edit", navId: "members", title: "Lid bewerken",
    match: (r) => r.parts[0] === "leden" && r.parts.length === 3 && r.parts[2] === "bewerken",
    allowed: (c) => c.members && (c.update || c.updateStatus), render: member.renderEdit },
  { id: "member", navId: "members", title: "Lid", match: (r) => r.parts[0] === "leden" && r.parts.length === 2,
    allowed: (c) => c.members, render: member.renderDetail },
  { id: "ask", path: "/vraag", title: "Vraag stellen", nav: true, match: exact("/vraag"),
    allowed: (c) => c.ask, render: ask.render },
  { id: "exports", path: "/export", title: "Exporteren", nav: true, match: exact("/export"),
    allowed: (c) => c.export, render: exports_.render },
  { id: "operations", path: "/beheer", title: "Beheer", nav: true, match: exact("/beheer"),
    allowed: (c) => c.members || c.generate || c.audit, render: operations.render },
];
