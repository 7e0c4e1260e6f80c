#!/usr/bin/env node
// CIS2 simulator for mod_cis2 tests: the OpenID-certified `oidc-provider` configured to look
// like NHS CIS2 Authentication on the wire (realm path, endpoint paths, claims, ACRs,
// back-channel logout), plus a user picker and a few test-control knobs under /_sim/.
// See README.md. Nothing here is fit for anything but loopback tests.
//
//   node sim.js --port <p> --clients <clients.json> [--users <users.json>] [--host 127.0.0.1]
//               [--keys <jwks.json>] [--extra-key]

import * as crypto from 'node:crypto';
import { createServer } from 'node:http';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { format, parseArgs } from 'node:util';

import Provider, { errors } from 'oidc-provider';
// The stock in-memory store; subclassed only so oidc-provider does not warn about it.
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';

// stdout carries exactly one line (the ready line); oidc-provider prints notices with
// console.info, so send every console line to stderr.
const toStderr = (...args) => process.stderr.write(`${format(...args)}\n`);
console.log = toStderr;
console.info = toStderr;
console.debug = toStderr;

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REALM_PATH = '/openam/oauth2/realms/root/realms/NHSIdentity/realms/Healthcare';

const CIS2_SCOPES = [
  'openid', 'profile', 'email', 'nhsperson', 'associatedorgs', 'nationalrbacaccess',
  'professionalmemberships', 'organisationalmemberships', 'selectedrole', 'changedrole',
];
const ACR_VALUES = [
  'AAL3_ANY', 'AAL2_OR_AAL3_ANY', 'AAL2_ANY', 'AAL1_USERPASS',
  'AAL3_IOS', 'AAL3_FIDO2', 'AAL3_N3_SMARTCARD', 'AAL3_CIS2_SMARTCARD', 'AAL3_SMARTCARD',
  'AAL2_TOTP', 'AAL2_NHSMAIL',
];
const PROFESSIONAL_IDS = [
  'gmc_id', 'gmp_id', 'gdc_id', 'gdp_id', 'nmc_id', 'gphc_id', 'rcn_id', 'consultant_id',
];
// Sub-paths of the issuer that /_sim/fault can target.
const ENDPOINTS = {
  '/.well-known/openid-configuration': 'discovery',
  '/authorize': 'authorize',
  '/access_token': 'token',
  '/userinfo': 'userinfo',
  '/connect/jwk_uri': 'jwks',
  '/connect/endSession': 'end_session',
};
const INVALID_GRANT_TEXT = 'The provided access grant is invalid, expired, or revoked.';
const BCL_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
const MAX_BODY = 1024 * 1024;
const MAX_LOG = 200;

// ---------------------------------------------------------------- command line

function usage(msg, code = 2) {
  if (msg) process.stderr.write(`cis2-sim: ${msg}\n`);
  process.stderr.write('usage: node sim.js --port <p> --clients <clients.json> [--users <users.json>]'
    + ' [--host 127.0.0.1] [--keys <jwks.json>] [--extra-key]\n');
  process.exit(code);
}

let opts;
try {
  ({ values: opts } = parseArgs({
    options: {
      port: { type: 'string' },
      clients: { type: 'string' },
      users: { type: 'string', default: path.join(HERE, 'users.json') },
      host: { type: 'string', default: '127.0.0.1' },
      keys: { type: 'string' },
      'extra-key': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }));
} catch (err) {
  usage(err.message);
}
if (opts.help) usage('', 0);
if (opts.port === undefined || !/^\d+$/.test(opts.port) || Number(opts.port) > 65535) {
  usage('--port <0-65535> is required');
}
if (!opts.clients) usage('--clients <clients.json> is required');
if (!/^(127\.\d+\.\d+\.\d+|localhost)$/.test(opts.host)) usage('--host must be a loopback IPv4 address');

function readJson(file, what) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    usage(`cannot read ${what} ${file}: ${err.message}`);
    return undefined;
  }
}

// ---------------------------------------------------------------- users

const users = readJson(opts.users, 'users');
if (!Array.isArray(users) || !users.length) usage('users file must be a non-empty JSON array');
const usersById = new Map();
const usersByUid = new Map();
for (const u of users) {
  if (!u.id || !/^\d{12}$/.test(u.uid || '')) usage(`user ${JSON.stringify(u.id)} needs an id and a 12-digit uid`);
  usersById.set(u.id, u);
  usersByUid.set(u.uid, u);
}

// ---------------------------------------------------------------- keys

// CIS2 kids look like `b/O6OvVv1+y+WgrH5Ui9WTioLt0=`: standard base64 of a SHA-1. Make sure
// ours carry '/' or '+' (and always '=') so an RP that URL-decodes or normalises kids fails.
function cis2Kid(jwk) {
  for (let i = 0; ; i += 1) {
    const kid = crypto.createHash('sha1').update(`${jwk.n}.${i}`).digest('base64');
    if (/[/+]/.test(kid)) return kid;
  }
}

function newRsaKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: cis2Kid(jwk), use: 'sig' };
}

let signingKeys; // private JWKs; [0] signs, all are published
if (opts.keys && existsSync(opts.keys)) {
  const jwks = readJson(opts.keys, 'keys');
  if (!Array.isArray(jwks?.keys) || !jwks.keys.length) usage('--keys file must be a JWKS with private RSA keys');
  signingKeys = jwks.keys.map((k) => ({ ...k, kid: k.kid || cis2Kid(k), use: 'sig' }));
} else {
  signingKeys = [newRsaKey()];
  if (opts.keys) writeFileSync(opts.keys, `${JSON.stringify({ keys: signingKeys }, null, 2)}\n`, { mode: 0o600 });
}
if (opts['extra-key']) signingKeys.push(newRsaKey());

let rogueKey; // never published: for "bad signature" tests
const keyObjects = new WeakMap();
function privateKeyObject(jwk) {
  if (!keyObjects.has(jwk)) keyObjects.set(jwk, crypto.createPrivateKey({ key: jwk, format: 'jwk' }));
  return keyObjects.get(jwk);
}

const b64u = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

// Sign a JWS the way the knobs ask. signWith: 'sim' (current signing key), 'rogue' (an
// unpublished key), 'none' (alg none, empty signature), 'hs256' (HMAC with `secret`).
function signJws(header, payload, signWith = 'sim', secret = '') {
  const h = { ...header };
  if (signWith === 'none') {
    h.alg = 'none';
    return `${b64u(h)}.${b64u(payload)}.`;
  }
  if (signWith === 'hs256') h.alg = 'HS256';
  const input = `${b64u(h)}.${b64u(payload)}`;
  const m = /^(RS|PS|HS)(256|384|512)$/.exec(h.alg || '');
  if (!m) throw new Error(`cannot sign with alg ${h.alg}`);
  const hash = `sha${m[2]}`;
  let sig;
  if (m[1] === 'HS') {
    sig = crypto.createHmac(hash, String(secret)).update(input).digest();
  } else {
    let jwk = signingKeys[0];
    if (signWith === 'rogue') {
      rogueKey ||= newRsaKey();
      jwk = rogueKey;
    }
    const key = privateKeyObject(jwk);
    sig = m[1] === 'PS'
      ? crypto.sign(hash, Buffer.from(input), {
        key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(m[2]) / 8,
      })
      : crypto.sign(hash, Buffer.from(input), key);
  }
  return `${input}.${sig.toString('base64url')}`;
}

function decodeJws(jws) {
  const [h, p] = jws.split('.');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString()),
    payload: JSON.parse(Buffer.from(p, 'base64url').toString()),
  };
}

// null deletes a member, anything else replaces it
function applyOverrides(obj, overrides) {
  for (const [k, v] of Object.entries(overrides || {})) {
    if (v === null) delete obj[k];
    else obj[k] = v;
  }
  return obj;
}

// ---------------------------------------------------------------- simulator state

const sim = {
  nextLogin: null, // one-shot login overrides
  nextToken: null, // one-shot ID token tampering
  nextUserinfo: null, // one-shot UserInfo overrides
  faults: [], // endpoint faults
  logins: [], // one entry per ID token issued
  backchannel: [], // one entry per logout token delivery
};
const loginRecords = new Map(); // loginId -> record (who logged in, with which levels)
const grantRecords = new Map(); // oidc-provider grant id -> record
const sessionRecords = new Map(); // oidc-provider session uid -> record
const sidSessions = new Map(); // sid -> oidc-provider session uid

function remember(map, key, value, max = 10000) {
  map.set(key, value);
  if (map.size > max) map.delete(map.keys().next().value);
}
function pushLog(list, entry) {
  list.push(entry);
  if (list.length > MAX_LOG) list.shift();
}
const now = () => Math.floor(Date.now() / 1000);
const log = (...args) => toStderr(`cis2-sim: ${format(...args)}`);

function uuidFrom(text) {
  const h = crypto.createHash('sha256').update(text).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

// The acr CIS2 would report: the first requested value the user's authentication satisfies,
// else the user's own default (so an AAL2 user asked for AAL3_ANY still logs in, at AAL2).
function chooseAcr(requested, aal, amr, user) {
  const level = Number(aal);
  const satisfies = (v) => {
    const m = /^AAL([123])_(.+)$/.exec(v);
    if (!m || !ACR_VALUES.includes(v)) return false;
    if (v === 'AAL2_OR_AAL3_ANY') return level >= 2;
    if (level < Number(m[1])) return false;
    return m[2] === 'ANY' || m[2] === 'USERPASS' || (amr || []).includes(m[2]);
  };
  const hit = requested.find(satisfies);
  if (hit) return hit;
  if (user.acr) return user.acr;
  if (level >= 3) return 'AAL3_ANY';
  return level === 2 ? 'AAL2_ANY' : 'AAL1_USERPASS';
}

function wantsRole(scope) {
  const s = new Set(String(scope || '').split(' '));
  return s.has('selectedrole') || s.has('changedrole');
}

function idTokenClaims(user, rec, scope, clientId) {
  const c = {
    azp: clientId,
    id_assurance_level: rec ? rec.ial : user.ial,
    authentication_assurance_level: rec ? rec.aal : user.aal,
    tokenName: 'id_token',
    tokenType: 'JWTToken',
    realm: '/NHSIdentity/Healthcare',
    subname: user.uid,
    auditTrackingId: `${crypto.randomUUID()}-${crypto.randomInt(1e6)}`,
  };
  let role = rec ? rec.selected_roleid : undefined;
  if (!rec && wantsRole(scope) && user.roles?.length) role = user.roles[0].person_roleid;
  if (role !== undefined && role !== null) c.selected_roleid = role;
  return c;
}

function userinfoClaims(user, rec) {
  const c = {};
  const put = (k, v) => { if (v !== undefined && v !== null) c[k] = v; };
  put('uid', user.uid);
  put('name', user.name);
  put('given_name', user.given_name);
  put('family_name', user.family_name);
  put('email', user.email);
  put('nhsid_useruid', user.uid);
  put('title', user.title);
  put('initials', user.initials);
  put('middle_names', user.middle_names);
  put('display_name', user.display_name);
  put('idassurancelevel', rec ? rec.ial : user.ial);
  if (user.orgs) {
    c.nhsid_user_orgs = user.orgs.map(({ org_code, org_name }) => ({ org_code, org_name }));
    c.nhsid_org_memberships = user.orgs.map(({ person_orgid, org_code, org_name }) => ({ person_orgid, org_code, org_name }));
    c.nhsid_org_roles = c.nhsid_org_memberships;
  }
  if (user.roles) c.nhsid_nrbac_roles = user.roles;
  for (const k of PROFESSIONAL_IDS) put(k, user.professional?.[k]);
  return c;
}

function recordFor(ctx, token) {
  return grantRecords.get(token?.grantId)
    || grantRecords.get(ctx?.oidc?.entities?.Grant?.jti)
    || sessionRecords.get(token?.sessionUid);
}

// ---------------------------------------------------------------- clients

const clientsIn = readJson(opts.clients, 'clients');
if (!Array.isArray(clientsIn)) usage('clients file must be a JSON array');
const PASSTHROUGH = [
  'client_secret', 'client_name', 'redirect_uris', 'post_logout_redirect_uris', 'jwks_uri', 'jwks',
  'backchannel_logout_uri', 'backchannel_logout_session_required', 'token_endpoint_auth_signing_alg',
  'userinfo_signed_response_alg',
];
const clients = clientsIn.map((c) => {
  const m = {
    client_id: c.client_id,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: c.token_endpoint_auth_method || 'client_secret_post',
    id_token_signed_response_alg: c.id_token_signed_response_alg || 'RS256',
  };
  for (const k of PASSTHROUGH) if (c[k] !== undefined) m[k] = c[k];
  // Connection Manager's name for the private_key_jwt signing algorithm
  if (c.jwks_uri_signing_algorithm && !m.token_endpoint_auth_signing_alg) {
    m.token_endpoint_auth_signing_alg = c.jwks_uri_signing_algorithm;
  }
  if (m.backchannel_logout_uri && m.backchannel_logout_session_required === undefined) {
    m.backchannel_logout_session_required = true;
  }
  return m;
});

// ---------------------------------------------------------------- HTML

const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
const STYLE = 'body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse}'
  + 'td,th{border:1px solid #ccc;padding:.4em .6em;text-align:left;vertical-align:top}'
  + 'small{color:#555}code{background:#f4f4f4}ul.roles{margin:.3em 0 0 1em;padding:0}';
function page(title, body) {
  return `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>${esc(title)}</title>`
    + `<style>${STYLE}</style></head>\n<body>\n<h1>${esc(title)}</h1>\n${body}\n</body></html>\n`;
}
function sendHtml(res, status, html) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
}
function sendJson(res, status, obj) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(`${JSON.stringify(obj, null, 2)}\n`);
}

function loginPage(uid, details) {
  const { params } = details;
  const roleScope = wantsRole(params.scope);
  const rows = users.map((u) => {
    const roles = u.roles || [];
    let select = '';
    if (roleScope && roles.length > 1) {
      select = `<select name="role">${roles.map((r) => `<option value="${esc(r.person_roleid)}">`
        + `${esc(r.person_roleid)} ${esc(r.org_code)} ${esc(r.role_code)}</option>`).join('')}</select> `;
    }
    // what each role is, so a person can pick the case to try
    const shortRole = (r) => String(r.role_name || r.role_code || '').split(':').pop().replace(/"/g, '');
    const shown = roles.slice(0, 4).map((r) => `<li>${esc(shortRole(r))} <small>at ${esc(r.org_code)}`
      + ` (${esc(r.person_roleid)})</small></li>`).join('');
    const more = roles.length > 4 ? `<li><small>and ${roles.length - 4} more</small></li>` : '';
    const roleCell = roles.length ? `${roles.length}<ul class="roles">${shown}${more}</ul>` : '0 <small>(no roles)</small>';
    return `<tr><td>${esc(u.name)}<br><small>${esc(u.id)}: ${esc(u.description || '')}</small></td>`
      + `<td>${esc(u.uid)}</td><td>${roleCell}</td>`
      + `<td>AAL${esc(u.aal)} (${esc((u.amr || []).join(', '))})</td><td>`
      + `<form id="login-${esc(u.id)}" method="post" action="/interaction/${esc(uid)}/login">`
      + `<input type="hidden" name="user" value="${esc(u.id)}">${select}`
      + `<button type="submit">Sign in as ${esc(u.id)}</button></form></td></tr>`;
  }).join('\n');
  return page('NHS CIS2 Authentication (simulator)', `<p>Client <code>${esc(params.client_id)}</code>;
scope <code>${esc(params.scope)}</code>; acr_values <code>${esc(params.acr_values || '-')}</code>;
prompt <code>${esc(params.prompt || '-')}</code>; max_age <code>${esc(params.max_age ?? '-')}</code></p>
<table>
<tr><th>User</th><th>UID</th><th>Roles</th><th>Assurance</th><th></th></tr>
${rows}
</table>`);
}

// ---------------------------------------------------------------- provider

let provider;
let ISSUER;

function buildProvider(issuer) {
  const configuration = {
    adapter: class SimAdapter extends MemoryAdapter {},
    clients,
    jwks: { keys: signingKeys },
    acrValues: ACR_VALUES,
    scopes: CIS2_SCOPES,
    responseTypes: ['code'],
    subjectTypes: ['public'],
    clientAuthMethods: ['client_secret_post', 'client_secret_basic', 'client_secret_jwt', 'private_key_jwt'],
    clientDefaults: {
      grant_types: ['authorization_code'],
      response_types: ['code'],
      id_token_signed_response_alg: 'RS256',
      token_endpoint_auth_method: 'client_secret_post',
    },
    enabledJWA: {
      idTokenSigningAlgValues: ['RS256', 'RS512'],
      userinfoSigningAlgValues: ['RS256', 'RS512'],
      clientAuthSigningAlgValues: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'HS256', 'HS384', 'HS512'],
    },
    claims: {
      openid: ['sub', 'azp', 'acr', 'amr', 'auth_time', 'id_assurance_level', 'authentication_assurance_level',
        'selected_roleid', 'tokenName', 'tokenType', 'realm', 'subname', 'auditTrackingId'],
      profile: ['name', 'given_name', 'family_name', 'uid'],
      email: ['email'],
      nhsperson: ['nhsid_useruid', 'title', 'initials', 'middle_names', 'display_name', 'idassurancelevel'],
      associatedorgs: ['nhsid_user_orgs'],
      nationalrbacaccess: ['nhsid_nrbac_roles'],
      professionalmemberships: PROFESSIONAL_IDS,
      organisationalmemberships: ['nhsid_org_memberships', 'nhsid_org_roles'],
      selectedrole: [],
      changedrole: [],
      acr: null,
      sid: null,
      auth_time: null,
      iss: null,
    },
    conformIdTokenClaims: true, // scope claims go to UserInfo only
    allowOmittingSingleRegisteredRedirectUri: false,
    pkce: { methods: ['S256'], required: () => false }, // CIS2 does not require PKCE; checked when sent
    routes: {
      authorization: '/authorize',
      token: '/access_token',
      userinfo: '/userinfo',
      jwks: '/connect/jwk_uri',
      end_session: '/connect/endSession',
    },
    features: {
      devInteractions: { enabled: false },
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
      userinfo: { enabled: true },
      jwtUserinfo: { enabled: true }, // clients registered with userinfo_signed_response_alg
      pushedAuthorizationRequests: { enabled: false },
      resourceIndicators: { enabled: false },
      dPoP: { enabled: false },
      claimsParameter: { enabled: false },
      introspection: { enabled: false },
      revocation: { enabled: false },
    },
    cookies: {
      keys: [crypto.randomBytes(32).toString('base64url')],
      long: { httpOnly: true, sameSite: 'lax' },
      short: { httpOnly: true, sameSite: 'lax' },
    },
    ttl: {
      AccessToken: 3599,
      AuthorizationCode: 120,
      IdToken: 3600,
      Interaction: 600,
      Session: 12 * 3600,
      Grant: 12 * 3600,
      RefreshToken: 3600,
      ClientCredentials: 600,
      DeviceCode: 600,
      BackchannelAuthenticationRequest: 600,
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    findAccount,
    loadExistingGrant,
    // CIS2 expects the client assertion audience to be the token endpoint, byte for byte.
    async assertJwtClientAuthClaimsAndHeader(ctx, claims) {
      const auds = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
      const want = new Set([`${issuer}/access_token`, ctx.oidc.urlFor('token')]);
      if (!auds.some((a) => want.has(a))) {
        throw new errors.InvalidClientAuth('client assertion aud must be the token endpoint');
      }
    },
    renderError,
  };

  const p = new Provider(issuer, configuration);

  // CIS2 always puts sid in the ID token, and one CIS2 session has one sid for all clients.
  p.Client.prototype.includeSid = () => true;
  p.Session.prototype.ensureClientContainer = function ensureClientContainer(clientId) {
    if (!this.sidFor(clientId)) {
      const sid = uuidFrom(`sid:${this.uid}`);
      remember(sidSessions, sid, this.uid);
      this.sidFor(clientId, sid);
    }
  };
  // Our own logout token: CIS2-shaped, signed with our keys, deliveries recorded.
  p.Client.prototype.backchannelLogout = async function backchannelLogout(sub, sid) {
    const r = await sendLogoutToken(this, { sub, sid });
    if (r.status !== 200 && r.status !== 204) {
      throw new Error(`expected 200 OK from ${this.backchannelLogoutUri}, got: ${r.status ?? r.error}`);
    }
  };

  p.use(cis2Shape);

  for (const ev of ['server_error', 'authorization.error', 'grant.error', 'userinfo.error',
    'end_session.error', 'jwks.error', 'discovery.error', 'backchannel.error', 'introspection.error']) {
    p.on(ev, (ctx, err) => {
      const e = err instanceof Error ? err : ctx;
      log(`${ev}: ${e?.message || e}${e?.error_description ? ` (${e.error_description})` : ''}`);
    });
  }
  return p;
}

async function findAccount(ctx, sub, token) {
  const user = usersByUid.get(sub);
  if (!user) return undefined;
  return {
    accountId: sub,
    async claims(use, scope) {
      const rec = recordFor(ctx, token);
      if (use === 'id_token') return { sub, ...idTokenClaims(user, rec, scope, ctx?.oidc?.client?.clientId) };
      return { sub, ...userinfoClaims(user, rec) };
    },
  };
}

// No consent screen: every authorization gets a grant for the scopes it asked for. A fresh
// login (result.cis2) starts a fresh grant that carries that login's record.
async function loadExistingGrant(ctx) {
  const { oidc } = ctx;
  const clientId = oidc.client.clientId;
  const { accountId, uid: sessionUid } = oidc.session;
  let grant;
  let rec;
  const loginId = oidc.result?.cis2?.loginId;
  if (loginId && loginRecords.has(loginId)) {
    rec = loginRecords.get(loginId);
    remember(sessionRecords, sessionUid, rec);
  } else {
    const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(clientId);
    if (grantId) grant = await oidc.provider.Grant.find(grantId);
    if (grant && grant.accountId !== accountId) grant = undefined;
    rec = (grant && grantRecords.get(grant.jti)) || sessionRecords.get(sessionUid);
  }
  grant ||= new oidc.provider.Grant({ accountId, clientId });
  grant.addOIDCScope([...oidc.requestParamOIDCScopes].join(' '));
  await grant.save();
  if (rec) remember(grantRecords, grant.jti, rec);
  return grant;
}

async function renderError(ctx, out) {
  ctx.type = 'html';
  ctx.body = page('CIS2 simulator: error', `<p><code>${esc(out.error)}</code></p><p>${esc(out.error_description)}</p>`);
}

async function logoutSource(ctx, form) {
  // A plain submit of the form (hidden xsrf + logout=yes) signs out everywhere; browsers auto-submit.
  const f = form.replace('</form>', '<input type="hidden" name="logout" value="yes"/>'
    + '<button type="submit">Sign out</button></form>');
  ctx.body = page('Sign out of NHS CIS2 (simulator)', `${f}
<script>document.forms[0].submit();</script>`);
}

async function postLogoutSuccessSource(ctx) {
  ctx.body = page('Signed out of NHS CIS2 (simulator)', '<p>You have been signed out.</p>');
}

// Koa middleware around every provider route: CIS2 shaping and the token/userinfo knobs.
async function cis2Shape(ctx, next) {
  await next();
  const route = ctx.oidc?.route;
  if (route === 'discovery' && ctx.body && typeof ctx.body === 'object') {
    delete ctx.body.authorization_response_iss_parameter_supported;
    delete ctx.body.claim_types_supported;
  } else if ((route === 'authorization' || route === 'resume') && (ctx.status === 302 || ctx.status === 303)) {
    // CIS2 answers with code, state and a ForgeRock session_state; no RFC 9207 iss.
    const loc = ctx.response.get('location');
    if (loc) {
      const u = new URL(loc, ctx.href);
      if (u.searchParams.has('code') || u.searchParams.has('error')) {
        u.searchParams.delete('iss');
        if (u.searchParams.has('code')) {
          const salt = crypto.randomBytes(6).toString('hex');
          const h = crypto.createHash('sha256').update(`${ctx.oidc.client?.clientId} ${u.origin} ${salt}`).digest('base64url');
          u.searchParams.set('session_state', `${h}.${salt}`);
        }
        ctx.redirect(u.href);
      }
    }
  } else if (route === 'token' && ctx.body && typeof ctx.body === 'object') {
    if (ctx.body.error === 'invalid_grant') ctx.body.error_description = INVALID_GRANT_TEXT;
    if (ctx.body.error === 'invalid_client' && ctx.oidc.params?.client_assertion) {
      ctx.body.error_description = 'JWT is not valid';
    }
    if (ctx.status === 200 && ctx.body.id_token) {
      const knob = sim.nextToken;
      if (knob) {
        sim.nextToken = null;
        const { header, payload } = decodeJws(ctx.body.id_token);
        applyOverrides(payload, knob.id_token);
        applyOverrides(header, knob.header);
        ctx.body.id_token = signJws(header, payload, knob.sign_with, ctx.oidc.client?.clientSecret);
        applyOverrides(ctx.body, knob.token_response);
      }
      try {
        const { payload } = decodeJws(ctx.body.id_token);
        const rec = recordFor(ctx, ctx.oidc.entities?.AuthorizationCode);
        pushLog(sim.logins, {
          at: now(),
          client_id: ctx.oidc.client?.clientId,
          user: rec?.userId || usersByUid.get(payload.sub)?.id,
          sub: payload.sub,
          sid: payload.sid,
          auth_time: payload.auth_time,
          acr: payload.acr,
          amr: payload.amr,
          aal: payload.authentication_assurance_level,
          ial: payload.id_assurance_level,
          selected_roleid: payload.selected_roleid,
        });
      } catch { /* tampered beyond decoding: nothing to record */ }
    }
  } else if (route === 'userinfo' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
    const knob = sim.nextUserinfo;
    if (knob) {
      sim.nextUserinfo = null;
      applyOverrides(ctx.body, knob.claims || knob);
    }
  } else if (route === 'userinfo' && ctx.status === 200 && typeof ctx.body === 'string') {
    // Signed UserInfo: CIS2's has no aud (CIS2.md §6); re-signed after the knob's overrides.
    const { header, payload } = decodeJws(ctx.body);
    delete payload.aud;
    const knob = sim.nextUserinfo || {};
    sim.nextUserinfo = null;
    const { sign_with: signWith, claims, ...rest } = knob;
    applyOverrides(payload, claims || rest);
    ctx.body = signJws(header, payload, signWith);
    ctx.type = 'application/jwt; charset=utf-8';
  }
}

// ---------------------------------------------------------------- back-channel logout

async function sendLogoutToken(client, { sub, sid, claims, header, sign_with: signWith }) {
  const iat = now();
  const payload = applyOverrides({
    iss: ISSUER,
    aud: client.clientId,
    iat,
    exp: iat + 120,
    jti: crypto.randomUUID(),
    sub,
    sid,
    events: { [BCL_EVENT]: {} },
  }, claims);
  const h = applyOverrides({ typ: 'JWT', kid: signingKeys[0].kid, alg: client.idTokenSignedResponseAlg || 'RS256' }, header);
  const token = signJws(h, payload, signWith, client.clientSecret);
  const entry = { at: iat, client_id: client.clientId, uri: client.backchannelLogoutUri, sub, sid };
  try {
    const res = await fetch(client.backchannelLogoutUri, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ logout_token: token }).toString(),
      redirect: 'manual',
      signal: AbortSignal.timeout(5000),
    });
    entry.status = res.status;
    await res.arrayBuffer().catch(() => {});
  } catch (err) {
    entry.error = err.cause?.code || err.message;
  }
  pushLog(sim.backchannel, entry);
  log(`backchannel logout ${client.clientId} sid=${sid} -> ${entry.status ?? entry.error}`);
  return { ...entry, logout_token: token };
}

// ---------------------------------------------------------------- request plumbing

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error('body too large'));
        req.destroy();
      } else {
        chunks.push(c);
      }
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

async function readJsonBody(req) {
  const text = await readBody(req);
  if (!text.trim()) return {};
  const v = JSON.parse(text);
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('expected a JSON object');
  return v;
}

async function applyFault(name, req, res) {
  const i = sim.faults.findIndex((f) => f.endpoint === name);
  if (i < 0) return false;
  const f = sim.faults[i];
  if (f.times > 0) {
    f.times -= 1;
    if (f.times === 0) sim.faults.splice(i, 1);
  }
  if (f.delay_ms) await new Promise((r) => { setTimeout(r, f.delay_ms); });
  if (f.drop) {
    req.socket.destroy();
    return true;
  }
  if (f.status === undefined) return false; // slow but otherwise normal
  const body = f.body === undefined ? '' : (typeof f.body === 'string' ? f.body : JSON.stringify(f.body));
  res.writeHead(f.status, { 'content-type': f.content_type || 'application/json', 'cache-control': 'no-store' });
  res.end(body);
  return true;
}

// ---------------------------------------------------------------- login interaction

async function finishLogin(req, res, details, user, form) {
  const knob = sim.nextLogin || {};
  sim.nextLogin = null;
  const { params } = details;
  const aal = knob.aal ?? user.aal;
  const ial = knob.ial ?? user.ial;
  const amr = knob.amr ?? user.amr;
  const acr = knob.acr ?? chooseAcr(String(params.acr_values || '').split(' ').filter(Boolean), aal, amr, user);
  let selected;
  if (wantsRole(params.scope) && user.roles?.length) {
    selected = user.roles.some((r) => r.person_roleid === form.role) ? form.role : user.roles[0].person_roleid;
  }
  if ('selected_roleid' in knob) selected = knob.selected_roleid;
  const loginId = crypto.randomUUID();
  remember(loginRecords, loginId, {
    userId: user.id, aal, ial, amr, acr, selected_roleid: selected,
  });
  const ts = now() + Number(knob.auth_time_offset || 0);
  log(`login ${user.id} (${user.uid}) client=${params.client_id} acr=${acr} aal=${aal} auth_time=${ts}`);
  await provider.interactionFinished(req, res, {
    login: {
      accountId: user.uid, acr, amr, ts, remember: true,
    },
    cis2: { loginId },
  }, { mergeWithLastSubmission: false });
}

async function handleInteraction(req, res, uid, action) {
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (err) {
    sendHtml(res, 400, page('CIS2 simulator: sign-in expired', `<p>${esc(err.message)}</p>`));
    return;
  }
  if (details.uid !== uid) {
    sendHtml(res, 400, page('CIS2 simulator: sign-in mismatch', '<p>Interaction does not match the cookie.</p>'));
    return;
  }
  if (details.prompt.name !== 'login') {
    // consent never needs a page: grants are automatic
    await provider.interactionFinished(req, res, { consent: {} }, { mergeWithLastSubmission: true });
    return;
  }
  if (action === 'login' && req.method === 'POST') {
    const form = Object.fromEntries(new URLSearchParams(await readBody(req)));
    const user = usersById.get(form.user) || usersByUid.get(form.user);
    if (!user) {
      sendHtml(res, 400, page('CIS2 simulator: unknown user', `<p>No user ${esc(form.user)}.</p>`));
      return;
    }
    await finishLogin(req, res, details, user, form);
    return;
  }
  if (action === '' && req.method === 'GET') {
    const auto = sim.nextLogin?.user;
    if (auto && usersById.has(auto)) {
      await finishLogin(req, res, details, usersById.get(auto), { role: sim.nextLogin.role });
      return;
    }
    sendHtml(res, 200, loginPage(uid, details));
    return;
  }
  sendHtml(res, 405, page('CIS2 simulator', '<p>Method not allowed.</p>'));
}

// ---------------------------------------------------------------- admin (/_sim/...)

async function rotateKeys(keepOld) {
  const { default: initializeKeystore } = await import('oidc-provider/lib/helpers/initialize_keystore.js');
  const fresh = newRsaKey();
  const next = keepOld ? [fresh, ...signingKeys] : [fresh];
  initializeKeystore.call(provider, { keys: next });
  signingKeys = next;
}

async function backchannelFromAdmin(body) {
  const targets = new Map(); // client_id -> {sub, sid}
  if (body.client_id && body.sub && body.sid) {
    targets.set(body.client_id, { sub: body.sub, sid: body.sid });
  } else {
    const sub = body.sub || (body.user && usersById.get(body.user)?.uid);
    for (const l of sim.logins) {
      if (body.client_id && l.client_id !== body.client_id) continue;
      if (sub && l.sub !== sub) continue;
      if (body.sid && l.sid !== body.sid) continue;
      targets.set(l.client_id, { sub: l.sub, sid: l.sid }); // latest wins
    }
  }
  const deliveries = [];
  for (const [clientId, t] of targets) {
    const client = await provider.Client.find(clientId);
    if (!client?.backchannelLogoutUri) {
      deliveries.push({ client_id: clientId, error: 'client has no backchannel_logout_uri' });
      continue;
    }
    deliveries.push(await sendLogoutToken(client, { ...body, ...t }));
  }
  if (body.end_session !== false) {
    // the CIS2 session ends too (as when a smartcard is pulled)
    for (const { sid } of targets.values()) {
      const sessionUid = sidSessions.get(sid);
      if (!sessionUid) continue;
      const s = await provider.Session.findByUid(sessionUid).catch(() => undefined);
      if (s) await s.destroy();
    }
  }
  return { deliveries };
}

async function handleAdmin(req, res, name) {
  try {
    if (req.method === 'GET' && name === 'state') {
      sendJson(res, 200, {
        issuer: ISSUER,
        kids: signingKeys.map((k) => k.kid),
        users: users.map((u) => ({ id: u.id, uid: u.uid, aal: u.aal, roles: (u.roles || []).length })),
        next_login: sim.nextLogin,
        next_token: sim.nextToken,
        next_userinfo: sim.nextUserinfo,
        faults: sim.faults,
        logins: sim.logins,
        backchannel: sim.backchannel,
      });
      return;
    }
    if (req.method !== 'POST') {
      sendJson(res, 405, { error: 'use POST' });
      return;
    }
    const body = await readJsonBody(req);
    switch (name) {
      case 'reset':
        Object.assign(sim, {
          nextLogin: null, nextToken: null, nextUserinfo: null, faults: [], logins: [], backchannel: [],
        });
        break;
      case 'next-login':
        if (body.user !== undefined && !usersById.has(body.user)) throw new Error(`unknown user ${body.user}`);
        sim.nextLogin = body;
        break;
      case 'next-token':
        sim.nextToken = body;
        break;
      case 'next-userinfo':
        sim.nextUserinfo = body;
        break;
      case 'fault':
        if (!Object.values(ENDPOINTS).includes(body.endpoint)) {
          throw new Error(`endpoint must be one of ${Object.values(ENDPOINTS).join(', ')}`);
        }
        sim.faults = sim.faults.filter((f) => f.endpoint !== body.endpoint);
        if (!body.clear) sim.faults.push({ times: 1, ...body });
        break;
      case 'backchannel-logout':
        sendJson(res, 200, await backchannelFromAdmin(body));
        return;
      case 'rotate-keys':
        await rotateKeys(body.keep_old !== false);
        break;
      case 'expire-client-jwks': {
        // The cached copy of a private_key_jwt client's jwks_uri goes stale now, as it does
        // at CIS2 (ForgeRock refetches on an unknown kid at most once a minute).
        const client = await provider.Client.find(String(body.client_id));
        if (!client?.jwksUri) throw new Error(`no client ${body.client_id} with a jwks_uri`);
        client.asymmetricKeyStore.freshUntil = 0;
        break;
      }
      default:
        sendJson(res, 404, { error: `no admin endpoint ${name}` });
        return;
    }
    sendJson(res, 200, { ok: true, kids: signingKeys.map((k) => k.kid) });
  } catch (err) {
    sendJson(res, 400, { error: err.message });
  }
}

// ---------------------------------------------------------------- HTTP server

let providerCallback;

async function handle(req, res) {
  const url = new URL(req.url, 'http://sim.invalid');
  const p = url.pathname;
  if (!provider) {
    sendJson(res, 503, { error: 'starting' });
    return;
  }
  if (p.startsWith('/_sim/')) {
    await handleAdmin(req, res, p.slice('/_sim/'.length));
    return;
  }
  const im = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login))?$/.exec(p);
  if (im) {
    await handleInteraction(req, res, im[1], im[2] || '');
    return;
  }
  if (p === REALM_PATH || p.startsWith(`${REALM_PATH}/`)) {
    const sub = p.slice(REALM_PATH.length);
    if (ENDPOINTS[sub] && await applyFault(ENDPOINTS[sub], req, res)) return;
    req.originalUrl = req.url;
    req.url = req.url.slice(REALM_PATH.length) || '/';
    providerCallback(req, res);
    return;
  }
  if (p === '/') {
    sendHtml(res, 200, page('NHS CIS2 Authentication (simulator)', `<p>Issuer <code>${esc(ISSUER)}</code></p>
<p><a href="${esc(`${REALM_PATH}/.well-known/openid-configuration`)}">Discovery document</a>
&middot; <a href="/_sim/state">Simulator state</a></p>`));
    return;
  }
  sendJson(res, 404, { error: 'not_found' });
}

const server = createServer((req, res) => {
  handle(req, res).catch((err) => {
    log(`request failed: ${err.stack || err}`);
    if (!res.headersSent) sendJson(res, 500, { error: 'server_error' });
    else res.destroy();
  });
});

process.on('unhandledRejection', (err) => log(`unhandled rejection: ${err?.stack || err}`));
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.close();
    server.closeAllConnections?.();
    process.exit(0);
  });
}

server.on('error', (err) => {
  process.stderr.write(`cis2-sim: cannot listen on ${opts.host}:${opts.port}: ${err.message}\n`);
  process.exit(1);
});

server.listen(Number(opts.port), opts.host, async () => {
  const { port } = server.address();
  const origin = `http://${opts.host}:${port}`;
  ISSUER = `${origin}${REALM_PATH}`;
  try {
    const p = buildProvider(ISSUER);
    for (const c of clients) await p.Client.find(c.client_id); // fail now on bad metadata
    providerCallback = p.callback();
    provider = p;
  } catch (err) {
    process.stderr.write(`cis2-sim: bad configuration: ${err.message}${err.error_description ? `: ${err.error_description}` : ''}\n`);
    process.exit(2);
  }
  process.stdout.write(`cis2-sim listening on ${origin}\n`);
});
