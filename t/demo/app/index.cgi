#!/usr/bin/python3
# The demo's protected app: shows what mod_cis2 hands a CGI program.
import html
import json
import os
import time

env = os.environ
e = lambda k: html.escape(env.get(k, ""))
roles = json.loads(env.get("CIS2_ROLES_JSON") or "[]")
auth_time = env.get("CIS2_AUTH_TIME", "")
when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(int(auth_time))) if auth_time.isdigit() else ""

rows = "".join(
    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>".format(
        html.escape(r.get("person_roleid", "")), html.escape(r.get("role_code", "")),
        html.escape(r.get("org_code", "")), html.escape(", ".join(r.get("activity_codes", []) or [])))
    for r in roles[:60])
variables = "".join(
    "<tr><td><code>{}</code></td><td>{}</td></tr>".format(html.escape(k), html.escape(v[:200]))
    for k, v in sorted(env.items()) if k.startswith("CIS2_") or k == "REMOTE_USER")

print("Content-Type: text/html; charset=utf-8")
print("Cache-Control: no-store")
print()
print(f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Signed in with NHS CIS2</title>
<style>body{{font-family:Arial,sans-serif;max-width:60em;margin:2em auto;color:#212b32}}
h1{{color:#005eb8}} table{{border-collapse:collapse}} td,th{{border:1px solid #d8dde0;padding:.3em .6em;text-align:left;vertical-align:top}}
.card{{background:#f0f4f5;padding:1em;margin:1em 0}} code{{font-size:.9em}}</style></head><body>
<h1>Hello, {e('CIS2_GIVEN_NAME') or e('REMOTE_USER')}</h1>
<div class="card">
<p><b>Name:</b> {e('CIS2_NAME')} &nbsp; <b>CIS2 UID:</b> <span id="uid">{e('REMOTE_USER')}</span></p>
<p><b>Selected role:</b> {e('CIS2_ROLE_NAME') or 'none'} ({e('CIS2_ROLE_CODE')}) at
{e('CIS2_ORG_NAME') or e('CIS2_ORG_CODE') or 'no organisation'}</p>
<p><b>Activities:</b> {e('CIS2_ACTIVITY_CODES') or 'none'}</p>
<p><b>Assurance:</b> AAL {e('CIS2_AAL')}, IAL {e('CIS2_IAL')}, acr {e('CIS2_ACR')}, amr {e('CIS2_AMR')};
signed in at {html.escape(when)}</p>
<p><a href="/cis2/logout">Sign out</a></p>
</div>
<h2>Roles ({len(roles)})</h2>
<table><tr><th>person_roleid</th><th>role code</th><th>org</th><th>activities</th></tr>{rows}</table>
<h2>What mod_cis2 passed to this CGI</h2>
<table>{variables}</table>
</body></html>""")
