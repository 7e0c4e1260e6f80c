#!/usr/bin/python3
# The demo's protected app: who is signed in, as mod_cis2 hands it to a CGI
# program (environment variables; PHP would read the same in $_SERVER).
import html
import json
import os
import time

env = os.environ


def e(k, default=""):
    return html.escape(env.get(k, default))


def when(epoch):
    if not str(epoch).isdigit():
        return "unknown"
    return time.strftime("%d %b %Y, %H:%M:%S UTC", time.gmtime(int(epoch)))


def short_role(name):
    # CIS2 role names are '"Clinical":"Clinical Provision":"Nurse Access Role"'
    return (name or "").split(":")[-1].strip('"')


roles = json.loads(env.get("CIS2_ROLES_JSON") or "[]")
selected = next((r for r in roles if r.get("person_roleid") == env.get("CIS2_ROLE_ID")), None)
activities = []
if selected:
    names = selected.get("activities") or []
    codes = selected.get("activity_codes") or []
    activities = [(c, names[i] if i < len(names) else "") for i, c in enumerate(codes)]
elif env.get("CIS2_ACTIVITY_CODES"):
    activities = [(c, "") for c in env["CIS2_ACTIVITY_CODES"].split(",")]

if selected:
    role_html = (f"<b>{html.escape(short_role(selected.get('role_name')))}</b>"
                 f"<br><small>{e('CIS2_ROLE_CODE')} &middot; role id {e('CIS2_ROLE_ID')}</small>")
    org_html = (f"<b>{e('CIS2_ORG_NAME') or e('CIS2_ORG_CODE')}</b>"
                f"<br><small>ODS code {e('CIS2_ORG_CODE')}</small>")
elif roles:
    role_html = "<i>none selected</i>"
    org_html = "<i>none</i>"
else:
    role_html = "<i>no roles</i> <small>(this user has no NHS RBAC role)</small>"
    org_html = "<i>no organisation</i>"

acts_html = ("<ul class=acts>" + "".join(
    f"<li><code>{html.escape(c)}</code> {html.escape(n)}</li>" for c, n in activities[:40])
    + (f"<li>and {len(activities) - 40} more</li>" if len(activities) > 40 else "")
    + "</ul>") if activities else "<i>none</i>"

aal = env.get("CIS2_AAL", "")
ends = env.get("CIS2_SESSION_EXPIRES", "")
left = ""
if ends.isdigit():
    mins = max(0, int(ends) - int(time.time())) // 60
    left = f" (in {mins // 60} h {mins % 60} min)"

rows = "".join(
    "<tr{}><td>{}</td><td>{}</td><td>{}<br><small>{}</small></td><td>{}</td></tr>".format(
        ' class="sel"' if r is selected else "",
        html.escape(r.get("person_roleid", "")),
        html.escape(short_role(r.get("role_name"))),
        html.escape(r.get("org_code", "")), html.escape(r.get("role_code", "")),
        len(r.get("activity_codes") or []))
    for r in roles[:60])
variables = "".join(
    "<tr><td><code>{}</code></td><td>{}</td></tr>".format(
        html.escape(k), html.escape(v if len(v) <= 160 else v[:160] + "…"))
    for k, v in sorted(env.items()) if k.startswith("CIS2_") or k in ("REMOTE_USER", "AUTH_TYPE"))

print("Content-Type: text/html; charset=utf-8")
print("Cache-Control: no-store")
print()
print(f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Signed in with NHS CIS2 - mod_cis2 demo</title>
<style>
body{{font-family:Arial,sans-serif;margin:0;color:#212b32;background:#f0f4f5}}
header{{background:#005eb8;color:#fff;padding:.8em 1.5em;display:flex;justify-content:space-between;align-items:center}}
header a{{color:#fff;margin-left:1.2em}} main{{max-width:62em;margin:1.5em auto;padding:0 1em}}
.card{{background:#fff;border-radius:4px;padding:1.2em 1.5em;margin-bottom:1.2em;box-shadow:0 1px 2px #ccd}}
h1{{font-size:1.6em;margin:0 0 .6em}} h2{{font-size:1.15em;color:#005eb8;margin:0 0 .6em}}
dl{{display:grid;grid-template-columns:11em 1fr;gap:.55em 1em;margin:0}} dt{{color:#4c6272}} dd{{margin:0}}
.aal{{display:inline-block;background:#007f3b;color:#fff;border-radius:3px;padding:0 .5em;font-weight:bold}}
.aal.low{{background:#ffb81c;color:#212b32}} ul.acts{{margin:0;padding-left:1.1em}}
table{{border-collapse:collapse;width:100%}} td,th{{border-bottom:1px solid #d8dde0;padding:.3em .5em;text-align:left;vertical-align:top}}
tr.sel{{background:#e8f1f8}} small{{color:#4c6272}} code{{font-size:.92em}}
.btn{{display:inline-block;background:#005eb8;color:#fff;padding:.45em 1em;border-radius:4px;text-decoration:none;margin-right:.6em}}
.btn.sec{{background:#fff;color:#005eb8;border:2px solid #005eb8}}
</style></head><body>
<header><span><b>NHS CIS2</b> &middot; mod_cis2 demo app</span>
<span>{e('CIS2_NAME') or e('REMOTE_USER')}<a href="/cis2/change-role">Change role</a><a href="/cis2/logout">Sign out</a></span></header>
<main>
<div class="card" id="identity">
<h1>Hello, {e('CIS2_GIVEN_NAME') or e('CIS2_NAME') or e('REMOTE_USER')}</h1>
<dl>
<dt>Signed in as</dt><dd><b>{e('CIS2_NAME')}</b><br><small>CIS2 UID <span id="uid">{e('REMOTE_USER')}</span>{(' &middot; ' + e('CIS2_EMAIL')) if env.get('CIS2_EMAIL') else ''}</small></dd>
<dt>Selected role</dt><dd id="role">{role_html}</dd>
<dt>Organisation</dt><dd id="org">{org_html}</dd>
<dt>Activities</dt><dd id="activities">{acts_html}</dd>
<dt>Assurance</dt><dd id="assurance"><span class="aal{'' if aal == '3' else ' low'}">AAL{html.escape(aal or '?')}</span>
 IAL{e('CIS2_IAL') or '?'} <small>&middot; acr {e('CIS2_ACR') or '-'} &middot; amr {e('CIS2_AMR') or '-'}</small></dd>
<dt>Signed in at CIS2</dt><dd>{html.escape(when(env.get('CIS2_AUTH_TIME', '')))}</dd>
<dt>Session ends</dt><dd id="expires">{html.escape(when(ends))}{html.escape(left)}<br><small>or after 15 minutes without use</small></dd>
</dl>
<p style="margin-top:1.2em"><a class="btn" href="/cis2/change-role">Change role</a><a class="btn sec" href="/cis2/logout">Sign out</a></p>
</div>
<div class="card"><h2>All roles ({len(roles)})</h2>
{'<table><tr><th>role id</th><th>role</th><th>organisation</th><th>activities</th></tr>' + rows + '</table>' if roles else '<p><i>This user has no roles.</i></p>'}
</div>
<div class="card"><h2>What mod_cis2 passed to this CGI program</h2>
<details><summary>{sum(1 for k in env if k.startswith('CIS2_'))} CIS2_* variables</summary><table>{variables}</table></details>
</div>
</main></body></html>""")
