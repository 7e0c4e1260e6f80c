#!/usr/bin/env node
// Self-test of the CIS2 simulator: starts sim.js on an ephemeral port with throwaway clients,
// drives full code flows like a browser would and checks what CIS2 would send.
// Exit status 0 when every check passes, 1 otherwise.  Usage: node selftest.js [-v]

import * as crypto from 'node:crypto';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const verbose = process.argv.includes('-v');
const failures = [];
let passed = 0;

function check(cond, msg, detail) {
  if (cond) {
    passed += 1;
    if (verbose) console.log(`ok   ${msg}`);
  } else {
    failures.push(msg);
    console.log(`FAIL ${msg}${detail === undefined ? '' : `: ${JSON.stringify(detail)}`}`);
  }
}

// ------------------------------------------------------------- RP side helper server

const rpKey = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const rpJwk = { ...rpKey.publicKey.export({ format: 'jwk' }), kid: 'rp-key-1', use: 'sig', alg: 'RS512' };
const logoutTokens = [];
const helper = createServer((req, res) => {
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    if (req.url === '/jwks') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [rpJwk] }));
    } else if (req.url === '/cis2/backchannel' && req.method === 'POST') {
      logoutTokens.push({ contentType: req.headers['content-type'], form: Object.fromEntries(new URLSearchParams(body)) });
      res.writeHead(200);
      res.end();
    } else {
      res.writeHead(404);
      res.end();
    }
  });
});
await new Promise((r) => { helper.listen(0, '127.0.0.1', r); });
const RP = `http://127.0.0.1:${helper.address().port}`;

const CB = 'http://127.0.0.1:9999/cis2/callback';
const POST = {
  client_id: '123456789012.apps.national',
  client_secret: 'secret-post-0123456789',
  redirect_uris: [CB],
  token_endpoint_auth_method: 'client_secret_post',
  id_token_signed_response_alg: 'RS256',
  backchannel_logout_uri: `${RP}/cis2/backchannel`,
  post_logout_redirect_uris: ['http://127.0.0.1:9999/'],
};
const BASIC = {
  client_id: '234567890123.apps.national',
  client_secret: 'secret-basic-0123456789',
  redirect_uris: [CB],
  token_endpoint_auth_method: 'client_secret_basic',
  id_token_signed_response_alg: 'RS512',
};
const PKJWT = {
  client_id: '345678901234.apps.national',
  redirect_uris: [CB],
  token_endpoint_auth_method: 'private_key_jwt',
  jwks_uri: `${RP}/jwks`,
  jwks_uri_signing_algorithm: 'RS512',
  id_token_signed_response_alg: 'RS256',
};

const dir = mkdtempSync(path.join(tmpdir(), 'cis2-sim-test-'));
writeFileSync(path.join(dir, 'clients.json'), JSON.stringify([POST, BASIC, PKJWT]));

// ------------------------------------------------------------- start the simulator

const child = spawn(process.execPath, [path.join(HERE, 'sim.js'), '--port', '0', '--clients', path.join(dir, 'clients.json')],
  { stdio: ['ignore', 'pipe', verbose ? 'inherit' : 'pipe'] });
let stderrText = '';
child.stderr?.on('data', (c) => { stderrText += c; });
let stdoutText = '';
const origin = await new Promise((resolve, reject) => {
  const t = setTimeout(() => reject(new Error(`simulator did not start: ${stderrText}`)), 15000);
  child.stdout.on('data', (c) => {
    stdoutText += c;
    const m = /^cis2-sim listening on (http:\/\/127\.0\.0\.1:\d+)\n/.exec(stdoutText);
    if (m) {
      clearTimeout(t);
      resolve(m[1]);
    }
  });
  child.on('exit', (code) => reject(new Error(`simulator exited ${code}: ${stderrText}`)));
});
const ISSUER = `${origin}/openam/oauth2/realms/root/realms/NHSIdentity/realms/Healthcare`;

// ------------------------------------------------------------- helpers

class Browser {
  jar = new Map();

  cookieHeader(url) {
    const u = new URL(url);
    return [...this.jar.values()].filter((c) => u.pathname.startsWith(c.path)).map((c) => `${c.name}=${c.value}`).join('; ');
  }

  store(res) {
    for (const sc of res.headers.getSetCookie()) {
      const [pair, ...attrs] = sc.split(';').map((s) => s.trim());
      const name = pair.slice(0, pair.indexOf('='));
      const value = pair.slice(pair.indexOf('=') + 1);
      let p = '/';
      let expired = !value;
      for (const a of attrs) {
        const [k, v] = a.split('=');
        if (k.toLowerCase() === 'path') p = v;
        if (k.toLowerCase() === 'expires' && Date.parse(v) < Date.now()) expired = true;
      }
      if (expired) this.jar.delete(`${name}|${p}`);
      else this.jar.set(`${name}|${p}`, { name, value, path: p });
    }
  }

  async go(url, { method = 'GET', form } = {}) {
    const headers = { cookie: this.cookieHeader(url) };
    let body;
    if (form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(form).toString();
    }
    const res = await fetch(url, { method, headers, body, redirect: 'manual' });
    this.store(res);
    return res;
  }
}

const b64url = (b) => Buffer.from(b).toString('base64url');
const decode = (jws) => {
  const [h, p] = jws.split('.');
  return { header: JSON.parse(Buffer.from(h, 'base64url')), payload: JSON.parse(Buffer.from(p, 'base64url')) };
};

async function getJson(url, init) {
  const res = await fetch(url, init);
  return { status: res.status, body: await res.json().catch(() => undefined) };
}

async function jwks() {
  return (await getJson(`${ISSUER}/connect/jwk_uri`)).body;
}

async function verify(jws) {
  const { header } = decode(jws);
  const key = (await jwks()).keys.find((k) => k.kid === header.kid);
  if (!key || !/^RS(256|512)$/.test(header.alg)) return false;
  const [h, p, s] = jws.split('.');
  return crypto.verify(`sha${header.alg.slice(2)}`, Buffer.from(`${h}.${p}`),
    crypto.createPublicKey({ key, format: 'jwk' }), Buffer.from(s, 'base64url'));
}

async function admin(name, body) {
  return getJson(`${origin}/_sim/${name}`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body || {}),
  });
}

// Runs an authorization request to the point where the simulator redirects to the RP callback.
async function authorize(browser, client, {
  user, role, scope = 'openid profile email nationalrbacaccess associatedorgs', acr = 'AAL3_ANY',
  prompt = 'login', maxAge, expectPicker,
} = {}) {
  const state = b64url(crypto.randomBytes(16));
  const nonce = b64url(crypto.randomBytes(16));
  const verifier = b64url(crypto.randomBytes(32));
  const q = new URLSearchParams({
    response_type: 'code',
    client_id: client.client_id,
    redirect_uri: CB,
    scope,
    state,
    nonce,
    code_challenge: b64url(crypto.createHash('sha256').update(verifier).digest()),
    code_challenge_method: 'S256',
  });
  if (acr) q.set('acr_values', acr);
  if (prompt) q.set('prompt', prompt);
  if (maxAge !== undefined) q.set('max_age', String(maxAge));
  let res = await browser.go(`${ISSUER}/authorize?${q}`);
  let sawPicker = false;
  for (let hops = 0; hops < 12; hops += 1) {
    if (res.status >= 300 && res.status < 400) {
      const loc = new URL(res.headers.get('location'), res.url || ISSUER);
      if (loc.href.startsWith(`${CB}?`)) {
        if (expectPicker !== undefined) check(sawPicker === expectPicker, `picker shown=${expectPicker} (${user})`);
        return { params: Object.fromEntries(loc.searchParams), state, nonce, verifier, location: loc.href };
      }
      res = await browser.go(loc.href);
      continue;
    }
    const html = await res.text();
    check(res.status === 200, `interaction page status (${user})`, res.status);
    const m = new RegExp(`<form id="login-${user}" method="post" action="([^"]+)">`).exec(html);
    if (m) {
      sawPicker = true;
      const form = { user };
      if (role) form.role = role;
      res = await browser.go(new URL(m[1], origin).href, { method: 'POST', form });
      continue;
    }
    // any other page is a single form to submit as-is (e.g. sign out of the previous user)
    const f = /<form[^>]*action="([^"]+)"/.exec(html);
    if (!f) throw new Error(`stuck on page: ${html.slice(0, 300)}`);
    const inputs = Object.fromEntries([...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    res = await browser.go(new URL(f[1].replace(/&amp;/g, '&'), origin).href, { method: 'POST', form: inputs });
  }
  throw new Error('too many redirects');
}

function clientAssertion(client, aud) {
  const now = Math.floor(Date.now() / 1000);
  const h = b64url(JSON.stringify({ alg: 'RS512', kid: rpJwk.kid, typ: 'JWT' }));
  const p = b64url(JSON.stringify({
    iss: client.client_id, sub: client.client_id, aud, jti: crypto.randomUUID(), iat: now, exp: now + 300,
  }));
  const s = crypto.sign('sha512', Buffer.from(`${h}.${p}`), rpKey.privateKey).toString('base64url');
  return `${h}.${p}.${s}`;
}

async function token(client, code, verifier, { aud } = {}) {
  const form = {
    grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: verifier,
  };
  const headers = { 'content-type': 'application/x-www-form-urlencoded' };
  if (client.token_endpoint_auth_method === 'client_secret_post') {
    Object.assign(form, { client_id: client.client_id, client_secret: client.client_secret });
  } else if (client.token_endpoint_auth_method === 'client_secret_basic') {
    const enc = (s) => encodeURIComponent(s);
    headers.authorization = `Basic ${Buffer.from(`${enc(client.client_id)}:${enc(client.client_secret)}`).toString('base64')}`;
  } else {
    Object.assign(form, {
      client_id: client.client_id,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: clientAssertion(client, aud || `${ISSUER}/access_token`),
    });
  }
  return getJson(`${ISSUER}/access_token`, { method: 'POST', headers, body: new URLSearchParams(form).toString() });
}

async function userinfo(accessToken) {
  return getJson(`${ISSUER}/userinfo`, { headers: { authorization: `Bearer ${accessToken}` } });
}

// Full login for `user` with `client`; returns the token response, decoded ID token, userinfo.
async function fullLogin(browser, client, opts) {
  const a = await authorize(browser, client, opts);
  check(a.params.code && a.params.state === a.state, `callback carries code and state (${opts.user})`, a.params);
  const t = await token(client, a.params.code, a.verifier);
  check(t.status === 200 && t.body?.id_token, `token exchange ${client.token_endpoint_auth_method} (${opts.user})`, t);
  const idt = decode(t.body.id_token);
  const ui = await userinfo(t.body.access_token);
  check(ui.status === 200, `userinfo status (${opts.user})`, ui.status);
  return { a, t, idt, ui: ui.body };
}

// ------------------------------------------------------------- the checks

async function run() {
  const users = (await getJson(`${origin}/_sim/state`)).body.users;
  const byId = Object.fromEntries(users.map((u) => [u.id, u]));
  for (const id of ['nurse', 'doctor', 'noroles', 'manyroles', 'aal2']) check(byId[id], `user ${id} exists`);

  // discovery
  const d = (await getJson(`${ISSUER}/.well-known/openid-configuration`)).body;
  check(d.issuer === ISSUER, 'discovery issuer', d.issuer);
  check(d.authorization_endpoint === `${ISSUER}/authorize`, 'authorization_endpoint');
  check(d.token_endpoint === `${ISSUER}/access_token`, 'token_endpoint');
  check(d.userinfo_endpoint === `${ISSUER}/userinfo`, 'userinfo_endpoint');
  check(d.jwks_uri === `${ISSUER}/connect/jwk_uri`, 'jwks_uri');
  check(d.end_session_endpoint === `${ISSUER}/connect/endSession`, 'end_session_endpoint');
  check(JSON.stringify(d.response_types_supported) === '["code"]', 'code flow only');
  check(d.code_challenge_methods_supported?.includes('S256'), 'PKCE S256');
  for (const s of ['openid', 'profile', 'email', 'nhsperson', 'associatedorgs', 'nationalrbacaccess',
    'professionalmemberships', 'organisationalmemberships', 'selectedrole', 'changedrole']) {
    check(d.scopes_supported.includes(s), `scope ${s}`);
  }
  for (const a of ['AAL3_ANY', 'AAL2_OR_AAL3_ANY', 'AAL2_ANY', 'AAL1_USERPASS']) check(d.acr_values_supported.includes(a), `acr ${a}`);
  for (const m of ['client_secret_post', 'client_secret_basic', 'private_key_jwt']) {
    check(d.token_endpoint_auth_methods_supported.includes(m), `auth method ${m}`);
  }
  check(d.backchannel_logout_supported === true, 'backchannel_logout_supported');
  check(d.id_token_signing_alg_values_supported.includes('RS256') && d.id_token_signing_alg_values_supported.includes('RS512'), 'RS256+RS512');

  const keys = (await jwks()).keys;
  check(keys.length >= 1 && keys.every((k) => k.use === 'sig' && !k.d), 'jwks public signing keys');
  check(/[/+]/.test(keys[0].kid) && keys[0].kid.endsWith('='), 'kid is CIS2-style base64', keys[0].kid);

  // nurse, client_secret_post, RS256, all scopes
  const all = 'openid profile email nhsperson associatedorgs nationalrbacaccess professionalmemberships organisationalmemberships selectedrole';
  const b1 = new Browser();
  const n = await fullLogin(b1, POST, {
    user: 'nurse', scope: all, maxAge: 300, expectPicker: true,
  });
  check(n.a.params.session_state && !('iss' in n.a.params), 'callback has session_state, no iss', n.a.params);
  check(await verify(n.t.body.id_token), 'nurse ID token verifies against JWKS');
  check(n.idt.header.alg === 'RS256', 'RS256 by default');
  check(n.t.body.token_type === 'Bearer' && n.t.body.expires_in > 3000, 'token response shape', n.t.body);
  const p = n.idt.payload;
  const t0 = Math.floor(Date.now() / 1000);
  check(p.iss === ISSUER, 'iss');
  check(p.sub === "555012345678", "sub is the 12-digit UID", p);
  check(p.aud === POST.client_id && p.azp === POST.client_id, 'aud and azp = client_id', [p.aud, p.azp]);
  check(Math.abs(p.iat - t0) < 30 && p.exp > p.iat, 'iat/exp');
  check(Math.abs(p.auth_time - t0) < 30, 'auth_time fresh');
  check(p.nonce === n.a.nonce, 'nonce echoed');
  check(p.acr === 'AAL3_ANY', 'acr', p.acr);
  check(JSON.stringify(p.amr) === '["N3_SMARTCARD"]', 'amr array', p.amr);
  check(p.id_assurance_level === '3' && p.authentication_assurance_level === '3', 'assurance levels are strings "3"');
  check(typeof p.sid === 'string' && p.sid.length > 10, 'sid present', p.sid);
  check(p.selected_roleid === '555254240100', 'selected_roleid = the only role', p.selected_roleid);
  for (const c of ['name', 'email', 'nhsid_nrbac_roles', 'nhsid_user_orgs', 'uid', 'idassurancelevel']) {
    check(!(c in p), `ID token has no ${c}`);
  }
  const u = n.ui;
  check(u.sub === p.sub, 'userinfo sub = ID token sub');
  check(u.name === 'SMITH Jane Mrs' && u.given_name === 'Jane' && u.family_name === 'Smith' && u.uid === p.sub, 'profile claims', u);
  check(u.email === 'jane.smith@nhs.net', 'email claim');
  check(u.nhsid_useruid === p.sub && u.title === 'Mrs' && u.initials && u.display_name && u.middle_names, 'nhsperson claims');
  check(u.idassurancelevel === '3', 'idassurancelevel "3"');
  check(Array.isArray(u.nhsid_user_orgs) && u.nhsid_user_orgs[0].org_code === 'RBA' && u.nhsid_user_orgs[0].org_name, 'nhsid_user_orgs');
  const r = u.nhsid_nrbac_roles?.[0] || {};
  check(r.person_roleid === '555254240100' && r.person_orgid && r.org_code === 'RBA' && r.role_code === 'S8000:G8000:R8001'
    && r.role_name.startsWith('"Clinical"') && Array.isArray(r.activity_codes) && Array.isArray(r.activities)
    && Array.isArray(r.workgroups_codes) && Array.isArray(r.aow_codes), 'nhsid_nrbac_roles object shape', r);
  check(u.nmc_id === '12A3456B', 'professional membership id');
  check(Array.isArray(u.nhsid_org_memberships), 'organisational memberships');
  check(!('acr' in u) && !('id_assurance_level' in u), 'userinfo carries no ID-token-only claims');

  // replayed code
  const replay = await token(POST, n.a.params.code, n.a.verifier);
  check(replay.status === 400 && replay.body.error === 'invalid_grant'
    && replay.body.error_description === 'The provided access grant is invalid, expired, or revoked.', 'code replay -> CIS2 invalid_grant', replay.body);

  // same browser: prompt=login shows the picker again, no prompt is SSO, max_age honoured
  await authorize(b1, POST, { user: 'nurse', expectPicker: true });
  const sso = await authorize(b1, POST, { user: 'nurse', prompt: null, expectPicker: false });
  check(sso.params.code, 'SSO without prompt=login');

  // one CIS2 session, one sid, whichever client asks
  const other = await authorize(b1, BASIC, { user: 'nurse', prompt: null, expectPicker: false });
  const ot = await token(BASIC, other.params.code, other.verifier);
  check(decode(ot.body.id_token).payload.sid === p.sid, 'same sid for a second client in the same session');

  // max_age: an SSO session older than max_age means a new login
  await new Promise((r) => { setTimeout(r, 2100); });
  await authorize(b1, POST, { user: 'nurse', prompt: null, maxAge: 1, expectPicker: true });

  // another user in the same browser: the previous CIS2 session is signed out first
  logoutTokens.length = 0;
  const sw = await authorize(b1, POST, { user: 'doctor', expectPicker: true });
  const swt = await token(POST, sw.params.code, sw.verifier);
  check(decode(swt.body.id_token).payload.sub === '555023456789', 'switch user in the same browser');
  check(logoutTokens.length === 1 && decode(logoutTokens[0].form.logout_token).payload.sub === '555012345678',
    'switching user sends a logout token for the previous user', logoutTokens.length);
  check(decode(swt.body.id_token).payload.sid !== p.sid, 'new CIS2 session, new sid');

  // wrong PKCE verifier
  const a2 = await authorize(new Browser(), POST, { user: 'nurse' });
  const badPkce = await token(POST, a2.params.code, b64url(crypto.randomBytes(32)));
  check(badPkce.status === 400 && badPkce.body.error === 'invalid_grant', 'PKCE mismatch refused', badPkce.body);

  // doctor, client_secret_basic, RS512, chooses his third role
  const doc = await fullLogin(new Browser(), BASIC, {
    user: 'doctor', role: '555260200203', scope: 'openid profile nationalrbacaccess associatedorgs selectedrole professionalmemberships',
  });
  check(doc.idt.header.alg === 'RS512' && await verify(doc.t.body.id_token), 'RS512 ID token verifies against JWKS');
  check(doc.idt.payload.selected_roleid === '555260200203', 'doctor picked role', doc.idt.payload.selected_roleid);
  check(doc.ui.nhsid_nrbac_roles.length === 4 && doc.ui.nhsid_user_orgs.length === 3, 'doctor roles and orgs');
  check(doc.ui.nhsid_nrbac_roles.some((x) => !('workgroups' in x)), 'some roles lack optional arrays');
  check(doc.ui.gmc_id === '7012345' && !('email' in doc.ui), 'scope filtering of userinfo');

  // AAL2 user asked for AAL3: logged in, but at AAL2
  const aal2 = await fullLogin(new Browser(), POST, { user: 'aal2', acr: 'AAL3_ANY' });
  check(aal2.idt.payload.acr !== 'AAL3_ANY' && aal2.idt.payload.authentication_assurance_level === '2', 'AAL2 user reports AAL2', aal2.idt.payload);
  check(JSON.stringify(aal2.idt.payload.amr) === '["TOTP"]', 'AAL2 amr TOTP');
  const aal2b = await fullLogin(new Browser(), POST, { user: 'aal2', acr: 'AAL2_OR_AAL3_ANY' });
  check(aal2b.idt.payload.acr === 'AAL2_OR_AAL3_ANY', 'AAL2_OR_AAL3_ANY satisfied', aal2b.idt.payload.acr);

  // many roles
  const many = await fullLogin(new Browser(), POST, { user: 'manyroles' });
  check(many.ui.nhsid_nrbac_roles.length >= 40 && JSON.stringify(many.ui).length > 20000, 'manyroles: 40+ roles, >20 KB', JSON.stringify(many.ui).length);
  check(many.ui.nhsid_nrbac_roles.every((x) => x.activity_codes?.length), 'manyroles: every role has activities');

  // no roles
  const nr = await fullLogin(new Browser(), POST, { user: 'noroles', scope: 'openid profile nationalrbacaccess associatedorgs selectedrole' });
  check(!('selected_roleid' in nr.idt.payload) && !('nhsid_nrbac_roles' in nr.ui), 'noroles: no role claims', nr.ui);

  // private_key_jwt
  const a3 = await authorize(new Browser(), PKJWT, { user: 'nurse' });
  const badAud = await token(PKJWT, a3.params.code, a3.verifier, { aud: ISSUER });
  check(badAud.status === 401 && badAud.body.error === 'invalid_client' && badAud.body.error_description === 'JWT is not valid', 'client assertion aud must be the token endpoint', badAud);
  const pk = await token(PKJWT, a3.params.code, a3.verifier);
  check(pk.status === 200 && pk.body.id_token, 'private_key_jwt token exchange', pk.body);

  // knobs: stale auth_time, integer levels, auto login
  await admin('next-login', { user: 'nurse', auth_time_offset: -900, aal: 3, ial: 3 });
  const stale = await fullLogin(new Browser(), POST, { user: 'nurse', maxAge: 300, expectPicker: false });
  check(stale.idt.payload.auth_time <= Math.floor(Date.now() / 1000) - 890, 'auth_time_offset knob', stale.idt.payload.auth_time);
  check(stale.idt.payload.authentication_assurance_level === 3, 'knob levels keep their JSON type');

  // knobs: ID token tampering
  await admin('next-token', { id_token: { iss: 'https://evil.example' } });
  const tam = await fullLogin(new Browser(), POST, { user: 'nurse' });
  check(tam.idt.payload.iss === 'https://evil.example' && await verify(tam.t.body.id_token), 'next-token re-signs with overrides');
  await admin('next-token', { sign_with: 'rogue' });
  const rogue = await fullLogin(new Browser(), POST, { user: 'nurse' });
  check(!(await verify(rogue.t.body.id_token)), 'rogue signature does not verify');
  await admin('next-userinfo', { sub: '999999999999' });
  const uiTam = await fullLogin(new Browser(), POST, { user: 'nurse' });
  check(uiTam.ui.sub === '999999999999', 'next-userinfo overrides');

  // knobs: faults
  await admin('fault', { endpoint: 'token', status: 503, body: 'down', content_type: 'text/plain' });
  const a4 = await authorize(new Browser(), POST, { user: 'nurse' });
  const f1 = await token(POST, a4.params.code, a4.verifier);
  check(f1.status === 503, 'token fault injected', f1.status);
  const f2 = await token(POST, a4.params.code, a4.verifier);
  check(f2.status === 200, 'fault is one-shot; code still usable', f2.status);

  await admin('fault', { endpoint: 'jwks', delay_ms: 300 });
  let t1 = Date.now();
  const slow = await getJson(`${ISSUER}/connect/jwk_uri`);
  check(slow.status === 200 && Date.now() - t1 >= 280, 'slow-but-working fault');
  await admin('fault', { endpoint: 'discovery', drop: true });
  const dropped = await fetch(`${ISSUER}/.well-known/openid-configuration`).then(() => 'answered', () => 'dropped');
  check(dropped === 'dropped', 'dropped connection fault');
  await admin('fault', { endpoint: 'userinfo', status: 200, body: '<html>garbage', content_type: 'text/html', times: 0 });
  const g1 = await fetch(`${ISSUER}/userinfo`).then((x) => x.text());
  const g2 = await fetch(`${ISSUER}/userinfo`).then((x) => x.text());
  check(g1 === '<html>garbage' && g2 === g1, 'persistent fault (times 0)');
  await admin('fault', { endpoint: 'userinfo', clear: true });
  const cleared = await getJson(`${ISSUER}/userinfo`);
  check(cleared.status >= 400 && cleared.body?.error, 'fault cleared', cleared);

  await admin('next-token', { sign_with: 'none', id_token: { nonce: null } });
  const nn = await fullLogin(new Browser(), POST, { user: 'nurse' });
  check(nn.idt.header.alg === 'none' && nn.t.body.id_token.endsWith('.') && !('nonce' in nn.idt.payload), 'alg none + claim removal');
  await admin('next-token', { sign_with: 'hs256', token_response: { token_type: 'mac' } });
  const hs = await fullLogin(new Browser(), POST, { user: 'nurse' });
  const [hh, hp, hsig] = hs.t.body.id_token.split('.');
  check(hs.idt.header.alg === 'HS256' && hs.t.body.token_type === 'mac'
    && crypto.createHmac('sha256', POST.client_secret).update(`${hh}.${hp}`).digest('base64url') === hsig, 'HS256 with the client secret');
  await admin('next-login', { acr: 'AAL1_USERPASS', selected_roleid: null, amr: ['USERPASS'] });
  const k2 = await fullLogin(new Browser(), POST, { user: 'doctor', scope: 'openid selectedrole' });
  check(k2.idt.payload.acr === 'AAL1_USERPASS' && !('selected_roleid' in k2.idt.payload) && k2.idt.payload.amr[0] === 'USERPASS', 'next-login acr/amr/selected_roleid');
  t1 = (await getJson(`${origin}/_sim/state`)).body;
  check(t1.logins.length > 5 && t1.logins.at(-1).user === 'doctor' && t1.logins.at(-1).client_id === POST.client_id, 'state lists logins');

  // back-channel logout through RP-initiated logout at endSession
  const b5 = new Browser();
  const lo = await fullLogin(b5, POST, { user: 'doctor' });
  logoutTokens.length = 0;
  const q = new URLSearchParams({ id_token_hint: lo.t.body.id_token, post_logout_redirect_uri: 'http://127.0.0.1:9999/', state: 'xyz' });
  let res = await b5.go(`${ISSUER}/connect/endSession?${q}`);
  const html = await res.text();
  const f = /<form[^>]*action="([^"]+)"/.exec(html);
  const inputs = Object.fromEntries([...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)].map((x) => [x[1], x[2]]));
  res = await b5.go(new URL(f[1], origin).href, { method: 'POST', form: inputs });
  check(res.status === 303 && res.headers.get('location') === 'http://127.0.0.1:9999/?state=xyz', 'endSession redirects to post_logout_redirect_uri', res.headers.get('location'));
  check(logoutTokens.length === 1 && /x-www-form-urlencoded/.test(logoutTokens[0].contentType), 'logout_token POSTed form-encoded', logoutTokens.length);
  if (logoutTokens.length) {
    const lt = logoutTokens[0].form.logout_token;
    const { payload: l } = decode(lt);
    check(await verify(lt), 'logout token verifies against JWKS');
    check(l.iss === ISSUER && l.aud === POST.client_id && l.iat && l.jti && l.sub === lo.idt.payload.sub
      && l.sid === lo.idt.payload.sid && l.events?.['http://schemas.openid.net/event/backchannel-logout'] && !('nonce' in l),
    'logout token claims', l);
  }
  const after = await authorize(b5, POST, { user: 'doctor', prompt: null, expectPicker: true });
  check(after.params.code, 'after logout the picker is shown again');

  // back-channel logout from the admin endpoint ends the CIS2 session too
  const b6 = new Browser();
  const nl = await fullLogin(b6, POST, { user: 'noroles' });
  logoutTokens.length = 0;
  const bl = await admin('backchannel-logout', { user: 'noroles' });
  check(bl.status === 200 && bl.body.deliveries.length === 1 && bl.body.deliveries[0].status === 200 && logoutTokens.length === 1
    && decode(logoutTokens[0].form.logout_token).payload.sid === nl.idt.payload.sid, 'admin back-channel logout delivered', bl.body);
  await authorize(b6, POST, { user: 'noroles', prompt: null, expectPicker: true });

  // errors go back to the RP without iss
  const none = await authorize(new Browser(), POST, { user: 'nurse', prompt: 'none' });
  check(none.params.error === 'login_required' && none.params.state === none.state && !('iss' in none.params), 'prompt=none error redirect', none.params);

  // key rotation: new key signs, old stays published
  const oldKid = keys[0].kid;
  const rot = await admin('rotate-keys', {});
  check(rot.status === 200 && rot.body.kids.length === 2 && rot.body.kids[1] === oldKid, 'rotate-keys', rot.body);
  const afterRot = await fullLogin(new Browser(), BASIC, { user: 'nurse' });
  check(afterRot.idt.header.kid === rot.body.kids[0] && await verify(afterRot.t.body.id_token), 'new key signs after rotation');
}

let code = 0;
try {
  await run();
} catch (err) {
  console.log(`FAIL exception: ${err.stack || err}`);
  code = 1;
}
child.kill('SIGTERM');
const exitCode = await new Promise((r) => { child.on('exit', (c) => r(c)); setTimeout(() => r('timeout'), 5000); });
check(exitCode === 0, 'simulator exits 0 on SIGTERM', exitCode);
check(stdoutText.split('\n').filter(Boolean).length === 1, 'exactly one stdout line', stdoutText);
helper.close();
rmSync(dir, { recursive: true, force: true });
if (failures.length) code = 1;
console.log(`${passed} checks passed, ${failures.length} failed`);
if (code && !verbose && stderrText) console.log(`--- simulator stderr ---\n${stderrText}`);
process.exit(code);
