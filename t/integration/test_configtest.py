"""`apache2 -t` (apachectl configtest) must refuse a broken mod_cis2
configuration, with a CIS2-nnnnn numbered message naming the directive.
A valid configuration must pass (the positive control)."""

import os
import tempfile

import pytest

import cis2test as T

DUMMY_PROVIDER = {
    "metadata_url": "http://127.0.0.1:9/op/.well-known/openid-configuration",
    "client_id": "123456789012.apps.national",
    "client_secret": "configtest-secret-0123456789abcdef",
}


def make(port_pool, directives=(), extra=""):
    h = T.Httpd("configtest", port_pool.take(), DUMMY_PROVIDER,
                directives=directives, extra=extra, pool=port_pool)
    port_pool.give(h.port)
    return h


def test_valid_config_passes(port_pool):
    p = make(port_pool).configtest()
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Syntax OK" in p.stdout + p.stderr


def test_secret_from_readable_file_passes(port_pool):
    d = tempfile.mkdtemp(prefix="cis2-secret-")
    path = os.path.join(d, "secret")
    with open(path, "w") as f:
        f.write("file-secret-0123456789abcdef\n")
    os.chmod(path, 0o600)
    p = make(port_pool, [f"CIS2ClientSecret file:{path}"]).configtest()
    assert p.returncode == 0, p.stdout + p.stderr


def assert_refused(p, directive):
    out = p.stdout + p.stderr
    assert p.returncode != 0, f"configtest accepted it:\n{out}"
    lines = [l for l in out.splitlines() if "CIS2-" in l and directive in l]
    assert lines, (f"no CIS2-nnnnn message naming {directive}:\n{out}")
    assert T.LOGNO_RE.search(lines[0]), lines[0]


def test_missing_client_id(port_pool):
    assert_refused(make(port_pool, ["-CIS2ClientID"]).configtest(), "CIS2ClientID")


def test_missing_redirect_uri(port_pool):
    assert_refused(make(port_pool, ["-CIS2RedirectURI"]).configtest(),
                   "CIS2RedirectURI")


def test_missing_client_secret(port_pool):
    assert_refused(make(port_pool, ["-CIS2ClientSecret"]).configtest(),
                   "CIS2ClientSecret")


def test_unreadable_secret_file(port_pool):
    assert_refused(make(port_pool, ["CIS2ClientSecret file:/nonexistent/cis2-secret"]).configtest(),
                   "CIS2ClientSecret")


def test_secret_file_leaks_nothing(port_pool):
    """The refusal of an empty secret file names the directive; and no
    configtest output ever prints a secret."""
    d = tempfile.mkdtemp(prefix="cis2-secret-")
    path = os.path.join(d, "secret")
    open(path, "w").close()
    p = make(port_pool, [f"CIS2ClientSecret file:{path}"]).configtest()
    assert_refused(p, "CIS2ClientSecret")
    ok = make(port_pool).configtest()
    assert DUMMY_PROVIDER["client_secret"] not in ok.stdout + ok.stderr


@pytest.mark.parametrize("uri", [
    "not-a-url",
    "/cis2/callback",
    "ftp://127.0.0.1/cis2/callback",
    "http://127.0.0.1:8080/cis2/callback#frag",
    "http://user@127.0.0.1/cis2/callback",
    "http://127.0.0.1:8080/cis2\\callback",
], ids=["no-scheme", "relative", "ftp", "fragment", "userinfo", "backslash"])
def test_malformed_redirect_uri(port_pool, uri):
    assert_refused(make(port_pool, [f'CIS2RedirectURI "{uri}"']).configtest(),
                   "CIS2RedirectURI")


@pytest.mark.parametrize("line,directive", [
    ("CIS2TokenEndpointAuth client_secret_jwt_bogus", "CIS2TokenEndpointAuth"),
    ("CIS2IDTokenAlgs none", "CIS2IDTokenAlgs"),
    ("CIS2IDTokenAlgs HS256", "CIS2IDTokenAlgs"),
    ("CIS2HTTPTimeout abc", "CIS2HTTPTimeout"),
    ("CIS2Environment moon", "CIS2Environment"),
])
def test_bad_values_refused(port_pool, line, directive):
    p = make(port_pool, [line]).configtest()
    out = p.stdout + p.stderr
    assert p.returncode != 0, f"configtest accepted {line!r}:\n{out}"
    assert directive in out, out


# ---- session lifecycle and logout (issue #5)

@pytest.mark.parametrize("line,directive", [
    ("CIS2UnauthAction redirect", "CIS2UnauthAction"),
    ("CIS2MaxPendingLogins 0", "CIS2MaxPendingLogins"),
    ("CIS2MaxPendingLogins 5x", "CIS2MaxPendingLogins"),
    ("CIS2CookieSameSite sometimes", "CIS2CookieSameSite"),
    ("CIS2CookieDomain example.nhs.uk:443", "CIS2CookieDomain"),
    ("CIS2RedirectAllowOrigin https://portal.example/path", "CIS2RedirectAllowOrigin"),
    ("CIS2RedirectAllowOrigin //portal.example", "CIS2RedirectAllowOrigin"),
    ("CIS2PostLogoutRedirectURI /signed-out", "CIS2PostLogoutRedirectURI"),
    ("CIS2SessionInactivityTimeout 0", "CIS2SessionInactivityTimeout"),
    ("CIS2SessionMaxDuration forever", "CIS2SessionMaxDuration"),
    ("CIS2CookieSameSite None", "CIS2CookieSameSite"),    # on plain http
], ids=["unauth", "pending-0", "pending-junk", "samesite", "domain-port",
        "allow-path", "allow-relative", "post-logout-relative", "idle-0",
        "max-junk", "samesite-none-http"])
def test_lifecycle_bad_values_refused(port_pool, line, directive):
    assert_refused(make(port_pool, [line]).configtest(), directive)


def test_lifecycle_directives_in_location_pass(port_pool):
    extra = """
<Location /app/admin>
    CIS2SessionInactivityTimeout 5m
    CIS2SessionMaxDuration 1h
    CIS2UnauthAction 401
</Location>
"""
    p = make(port_pool, ["CIS2RPInitiatedLogout on",
                         "CIS2PostLogoutRedirectURI http://127.0.0.1/bye",
                         "CIS2RedirectAllowOrigin https://portal.example:8443",
                         "CIS2CookieSameSite Strict", "CIS2MaxPendingLogins 10",
                         "CIS2CookieDomain example.nhs.uk"],
             extra=extra).configtest()
    assert p.returncode == 0, p.stdout + p.stderr
# ---- issue #8: every misconfiguration configtest can detect ----------------

def secret_file(mode):
    d = tempfile.mkdtemp(prefix="cis2-secret-")
    path = os.path.join(d, "secret")
    with open(path, "w") as f:
        f.write("file-secret-0123456789abcdef\n")
    os.chmod(path, mode)
    return path


@pytest.mark.parametrize("mode", [0o644, 0o604, 0o602])
def test_world_accessible_secret_file(port_pool, mode):
    path = secret_file(mode)
    p = make(port_pool, [f"CIS2ClientSecret file:{path}"]).configtest()
    assert_refused(p, "CIS2ClientSecret")
    out = p.stdout + p.stderr
    assert "CIS2-00170" in out and "chmod 600" in out, out
    assert "file-secret-0123456789abcdef" not in out


def test_group_readable_secret_file_passes(port_pool):
    """root:www-data 640 is a usual way to keep a secret: allowed."""
    p = make(port_pool, [f"CIS2ClientSecret file:{secret_file(0o640)}"]).configtest()
    assert p.returncode == 0, p.stdout + p.stderr


def test_secret_path_is_a_directory(port_pool):
    d = tempfile.mkdtemp(prefix="cis2-secret-")
    os.chmod(d, 0o700)
    assert_refused(make(port_pool, [f"CIS2ClientSecret file:{d}"]).configtest(),
                   "CIS2ClientSecret")


@pytest.mark.parametrize("uri", [
    "http://app.example.nhs.uk/cis2/callback",
    "http://10.1.2.3:8080/cis2/callback",
    "http://localhost.example.com/cis2/callback",
])
def test_plain_http_redirect_uri_outside_localhost(port_pool, uri):
    p = make(port_pool, [f"CIS2RedirectURI {uri}"]).configtest()
    assert_refused(p, "CIS2RedirectURI")
    assert "CIS2-00171" in p.stdout + p.stderr


@pytest.mark.parametrize("uri", [
    "https://app.example.nhs.uk/cis2/callback",
    "http://localhost:8080/cis2/callback",
    "http://127.0.0.2/cis2/callback",
    "http://[::1]:8080/cis2/callback",
])
def test_https_or_loopback_redirect_uri_passes(port_pool, uri):
    p = make(port_pool, [f"CIS2RedirectURI {uri}"]).configtest()
    assert p.returncode == 0, p.stdout + p.stderr


def vhosts(port, one_redirect):
    return f"""
<VirtualHost 127.0.0.1:{port}>
    ServerName one.example.nhs.uk
    CIS2RedirectURI {one_redirect}
</VirtualHost>
<VirtualHost 127.0.0.1:{port}>
    ServerName two.example.nhs.uk
    ServerAlias *.two.example.nhs.uk
    CIS2RedirectURI https://two.example.nhs.uk/sso/callback
</VirtualHost>
"""


@pytest.mark.parametrize("host", ["two.example.nhs.uk", "x.two.example.nhs.uk"])
def test_redirect_uri_served_by_another_vhost(port_pool, host):
    """The callback would reach a virtual host that does not handle it:
    CIS2 sign-in could never complete there. (The port must be one that
    virtual host listens on: a same-named vhost on another port, say the
    :80 one that redirects to https, does not receive the callback.)"""
    h = make(port_pool)
    h.extra = vhosts(h.port, f"https://{host}:{h.port}/cis2/callback")
    h.write_conf()
    p = h.configtest()
    assert_refused(p, "CIS2RedirectURI")
    out = p.stdout + p.stderr
    assert "CIS2-00702" in out and "two.example.nhs.uk" in out, out


def test_redirect_uri_of_own_vhost_passes(port_pool):
    h = make(port_pool)
    h.extra = vhosts(h.port, f"https://one.example.nhs.uk:{h.port}/cis2/callback")
    h.write_conf()
    p = h.configtest()
    assert p.returncode == 0, p.stdout + p.stderr


def test_same_name_on_another_port_passes(port_pool):
    h = make(port_pool)
    h.extra = vhosts(h.port, "https://two.example.nhs.uk/cis2/callback")
    h.write_conf()
    p = h.configtest()
    assert p.returncode == 0, p.stdout + p.stderr


def test_inherited_settings_pass(port_pool):
    """A vhost inheriting the main server's CIS2 settings answers the same
    callback itself: not a misconfiguration."""
    h = make(port_pool)
    h.directives.append(f"CIS2RedirectURI https://app.example.nhs.uk:{h.port}/cis2/callback")
    h.extra = (f"<VirtualHost 127.0.0.1:{h.port}>\n"
               "    ServerName app.example.nhs.uk\n</VirtualHost>\n")
    h.write_conf()
    p = h.configtest()
    assert p.returncode == 0, p.stdout + p.stderr


@pytest.mark.parametrize("path", ["/cis2/callback", "/cis2/logout"])
def test_status_path_on_an_endpoint(port_pool, path):
    p = make(port_pool, [f"CIS2StatusPath {path}"]).configtest()
    assert_refused(p, "CIS2StatusPath")
    assert "CIS2-00703" in p.stdout + p.stderr


def test_status_path_must_be_local(port_pool):
    assert_refused(make(port_pool, ["CIS2StatusPath http://x/status"]).configtest(),
                   "CIS2StatusPath")


def test_status_path_passes(port_pool):
    p = make(port_pool, ["CIS2StatusPath /cis2-status"]).configtest()
    assert p.returncode == 0, p.stdout + p.stderr


@pytest.mark.parametrize("missing", ["CIS2ProviderMetadataURL"])
def test_missing_provider(port_pool, missing):
    assert_refused(make(port_pool, [f"-{missing}"]).configtest(), "CIS2Environment")
