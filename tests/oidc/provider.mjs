// A real OpenID provider on loopback for the sign-in tests (npm oidc-provider), shaped like the
// club's Cognito user pool where it matters: RS256 ID tokens whose aud is the client id and that
// carry cognito:groups; a public client (no secret) that must use PKCE with S256.
//
//   node provider.mjs --port 4010 --client-id dashboard --redirect-uri http://127.0.0.1:8080/ \
//        [--cors-origin http://127.0.0.1:8080] [--id-token-ttl 3600]
//
// Every start makes a fresh RSA key with a fresh kid (a restart is a key rotation). Prints one JSON
// line {"issuer", "kid"} on stdout once it listens. Besides the OpenID routes it serves its own
// login and consent pages (/interaction/<uid>) checking the passwords in users.json, and
// GET /test/stats: {"jwks_requests": n}, how often its key set was fetched since the start.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import Provider from 'oidc-provider';

function parseArgs(argv) {
  const options = { redirectUris: [], corsOrigins: [], idTokenTtl: 3600, clientId: 'memberlake-dashboard' };
  for (let i = 0; i < argv.length; i += 2) {
    const [name, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${name} needs a value`);
    if (name === '--port') options.port = Number(value);
    else if (name === '--client-id') options.clientId = value;
    else if (name === '--redirect-uri') options.redirectUris.push(value);
    else if (name === '--cors-origin') options.corsOrigins.push(value);
    else if (name === '--id-token-ttl') options.idTokenTtl = Number(value);
    else throw new Error(`unknown option ${name}`);
  }
  if (!Number.isInteger(options.port) || options.port <= 0) throw new Error('--port must be a port number');
  if (options.redirectUris.length === 0) throw new Error('give at least one --redirect-uri');
  return options;
}

const options = parseArgs(process.argv.slice(2));
const here = path.dirname(fileURLToPath(import.meta.url));
const users = JSON.parse(fs.readFileSync(path.join(here, 'users.json'), 'utf8')).users;
const issuer = `http://127.0.0.1:${options.port}`;

const kid = crypto.randomBytes(8).toString('hex');
const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };

const configuration = {
  clients: [{
    client_id: options.clientId,
    redirect_uris: options.redirectUris,
    post_logout_redirect_uris: options.redirectUris,
    token_endpoint_auth_method: 'none',  // a public client, as a browser app is; PKCE is then required
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  jwks: { keys: [signingKey] },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  // cognito:groups rides in the openid scope, so every ID token has it, as with Cognito.
  claims: { openid: ['sub', 'cognito:groups', 'cognito:username'], email: ['email', 'email_verified'] },
  // Cognito puts the user's claims in the ID token even in the code flow.
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: false } },
  pkce: { required: () => true },
  clientBasedCORS: (ctx, origin) => options.corsOrigins.includes(origin),
  ttl: { IdToken: options.idTokenTtl, AccessToken: options.idTokenTtl, Interaction: 600, Session: 3600, Grant: 3600 },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    const user = users.find((u) => u.username === id);
    if (!user) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, 'cognito:username': id, 'cognito:groups': user.groups, email: user.email, email_verified: true };
      },
    };
  },
};

const provider = new Provider(issuer, configuration);
const stats = { jwks_requests: 0 };

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(res, title, body, status = 200) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`<!doctype html><html lang="nl"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>
<body><main><h1>${escapeHtml(title)}</h1>${body}</main></body></html>`);
}

function loginPage(res, uid, message = '') {
  page(res, 'Inloggen bij de testprovider', `
${message ? `<p role="alert">${escapeHtml(message)}</p>` : ''}
<form method="post" action="/interaction/${escapeHtml(uid)}/login">
  <label>Gebruikersnaam <input name="username" autocomplete="username" required></label>
  <label>Wachtwoord <input name="password" type="password" autocomplete="current-password" required></label>
  <button type="submit">Inloggen</button>
</form>`);
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

// The login and consent steps, after the pattern of oidc-provider's example interactions.
async function interaction(req, res, url) {
  const [, , uid, step] = url.pathname.split('/');
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return page(res, 'Onbekende sessie', '', 400);
  if (req.method === 'GET') {
    if (details.prompt.name === 'login') return loginPage(res, uid);
    const client = details.params.client_id;
    return page(res, 'Toestemming', `
<p>${escapeHtml(client)} vraagt toegang tot: ${escapeHtml(details.params.scope)}</p>
<form method="post" action="/interaction/${escapeHtml(uid)}/confirm"><button type="submit">Toestaan</button></form>`);
  }
  if (req.method === 'POST' && step === 'login') {
    const form = await readForm(req);
    const user = users.find((u) => u.username === form.get('username'));
    const given = Buffer.from(form.get('password') ?? '');
    const expected = Buffer.from(user?.password ?? '');
    if (!user || given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) {
      return loginPage(res, uid, 'Onjuiste gebruikersnaam of wachtwoord.');
    }
    return provider.interactionFinished(req, res, { login: { accountId: user.username } }, { mergeWithLastSubmission: false });
  }
  if (req.method === 'POST' && step === 'confirm') {
    const { prompt: { details: missing }, params, session: { accountId } } = details;
    const grant = details.grantId ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId, clientId: params.client_id });
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    const consent = details.grantId ? {} : { grantId };
    return provider.interactionFinished(req, res, { consent }, { mergeWithLastSubmission: true });
  }
  return page(res, 'Niet gevonden', '', 404);
}

const oidc = provider.callback();
const server = http.createServer((req, res) => {
  const url = new URL(req.url, issuer);
  if (url.pathname === '/test/stats') {
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(JSON.stringify(stats));
  }
  if (url.pathname.startsWith('/interaction/')) {
    return interaction(req, res, url).catch((error) => {
      console.error('interaction failed:', error);
      if (!res.headersSent) page(res, 'Fout bij inloggen', escapeHtml(error.message), 400);
    });
  }
  if (url.pathname === '/jwks') stats.jwks_requests += 1;
  return oidc(req, res);
});

server.listen(options.port, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ issuer, kid })}\n`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)));
