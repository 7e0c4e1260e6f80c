#!/usr/bin/python3
# Sample CGI for mod_cis2 integration tests: prints, as JSON, what the app
# sees: every CIS2_* variable, REMOTE_USER, AUTH_TYPE and every HTTP_*
# variable (so tests can assert that forged headers never reach the app).
import json
import os
import sys

# consume any request body first (an unread body makes httpd reset the
# connection)
try:
    n = int(os.environ.get("CONTENT_LENGTH") or 0)
except ValueError:
    n = 0
if n > 0:
    sys.stdin.buffer.read(n)
env = {k: v for k, v in os.environ.items()
       if k.startswith("CIS2_") or k.startswith("HTTP_")
       or k in ("REMOTE_USER", "AUTH_TYPE", "REQUEST_METHOD", "QUERY_STRING",
                "REQUEST_URI")}
# also any variable whose name mentions CIS2 or REMOTE_USER in any case
for k, v in os.environ.items():
    u = k.upper()
    if "CIS2" in u or "REMOTE_USER" in u:
        env[k] = v
body = json.dumps(env, sort_keys=True)
sys.stdout.write("Content-Type: application/json\r\n")
sys.stdout.write("Cache-Control: no-store\r\n\r\n")
sys.stdout.write(body + "\n")
