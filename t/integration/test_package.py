"""The Debian package: `dpkg-buildpackage -us -uc -b` builds an installable
libapache2-mod-cis2 .deb from a clean copy of the source; it holds the
module, cis2.load/cis2.conf for a2enmod, the docs and examples; its
postinst enables the module; `a2enmod cis2` works on its files; and httpd
loads the packaged module (`apache2 -t`), whose configuration check really
runs. Nothing is installed into the system: the package is unpacked into a
temporary directory and a2enmod is pointed at a throwaway APACHE_CONFDIR."""

import os
import shutil
import subprocess
import tempfile

import pytest

import cis2test as T

PKG = "libapache2-mod-cis2"


def tracked_files():
    p = subprocess.run(["git", "-C", T.REPO, "ls-files", "-co",
                        "--exclude-standard"], capture_output=True, text=True)
    assert p.returncode == 0, f"git ls-files failed: {p.stderr}"
    return [f for f in p.stdout.splitlines()
            if f and os.path.isfile(os.path.join(T.REPO, f))]


@pytest.fixture(scope="module")
def built():
    """Build the .deb in a temporary copy of the source (no build products
    of the working tree), and unpack it."""
    for tool in ("dpkg-buildpackage", "dh_apache2", "dpkg-deb"):
        assert shutil.which(tool), (f"{tool} missing: apt-get install "
                                    "debhelper dh-apache2 dpkg-dev (t/setup)")
    top = tempfile.mkdtemp(prefix="cis2-deb-")
    src = os.path.join(top, "src")
    for f in tracked_files():
        dst = os.path.join(src, f)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(os.path.join(T.REPO, f), dst)
    env = dict(os.environ, DEB_BUILD_OPTIONS="nocheck parallel=2")
    p = subprocess.run(["nice", "-n", "10", "dpkg-buildpackage", "-us", "-uc",
                        "-b"], cwd=src, env=env, capture_output=True,
                       text=True, timeout=900)
    log = os.path.join(top, "build.log")
    with open(log, "w") as f:
        f.write(p.stdout + p.stderr)
    assert p.returncode == 0, f"dpkg-buildpackage failed (see {log}):\n" + \
        (p.stdout + p.stderr)[-4000:]
    debs = [f for f in os.listdir(top) if f.startswith(PKG + "_")
            and f.endswith(".deb")]
    assert len(debs) == 1, os.listdir(top)
    deb = os.path.join(top, debs[0])
    root = os.path.join(top, "root")
    subprocess.run(["dpkg-deb", "-x", deb, root], check=True)
    ctl = os.path.join(top, "control")
    subprocess.run(["dpkg-deb", "-e", deb, ctl], check=True)
    os.makedirs(os.path.join(T.HERE, "artifacts"), exist_ok=True)
    kept = shutil.copy(deb, os.path.join(T.HERE, "artifacts"))
    print(f"\nbuilt {kept}")
    yield {"deb": deb, "root": root, "control": ctl, "top": top}
    shutil.rmtree(top, ignore_errors=True)


def test_contents(built):
    out = subprocess.run(["dpkg-deb", "-c", built["deb"]], capture_output=True,
                         text=True, check=True).stdout
    paths = {line.split()[-1] for line in out.splitlines()}
    for want in ["./usr/lib/apache2/modules/mod_cis2.so",
                 "./etc/apache2/mods-available/cis2.load",
                 "./etc/apache2/mods-available/cis2.conf",
                 f"./usr/share/doc/{PKG}/copyright",
                 f"./usr/share/doc/{PKG}/README",
                 f"./usr/share/doc/{PKG}/examples/cgi-site.conf"]:
        assert want in paths, f"{want} not in the package:\n{out}"
    docs = {os.path.basename(p).removesuffix(".gz") for p in paths
            if p.startswith(f"./usr/share/doc/{PKG}/")}
    for doc in ["quickstart.md", "directives.md", "app-view.md",
                "deployment.md", "troubleshooting.md", "log-messages.md"]:
        assert doc in docs, f"{doc} not shipped: {sorted(docs)}"
    # the conffiles are the a2enmod files
    with open(os.path.join(built["control"], "conffiles")) as f:
        conffiles = f.read().split()
    assert "/etc/apache2/mods-available/cis2.load" in conffiles


def test_control_fields(built):
    def field(name):
        return subprocess.run(["dpkg-deb", "-f", built["deb"], name],
                              capture_output=True, text=True,
                              check=True).stdout.strip()
    assert field("Package") == PKG
    deps = field("Depends")
    # dh_apache2 ties it to the httpd module ABI; shlibs to the libraries
    assert "apache2-api-20120211" in deps, deps
    for lib in ("libcjose0", "libjansson4", "libcurl4", "libssl3"):
        assert lib in deps, deps
    with open(os.path.join(built["control"], "postinst")) as f:
        postinst = f.read()
    assert "apache2_invoke enmod" in postinst and "cis2" in postinst, postinst


def test_a2enmod_enables_it(built):
    """a2enmod on the package's files, in a throwaway APACHE_CONFDIR."""
    conf = os.path.join(built["top"], "etc-apache2")
    shutil.copytree(os.path.join(built["root"], "etc", "apache2"), conf)
    os.makedirs(os.path.join(conf, "mods-enabled"))
    env = dict(os.environ, APACHE_CONFDIR=conf)
    p = subprocess.run(["a2enmod", "-q", "cis2"], env=env,
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    for f in ("cis2.load", "cis2.conf"):
        link = os.path.join(conf, "mods-enabled", f)
        assert os.path.islink(link), f"a2enmod did not enable {f}"
        assert os.readlink(link) == f"../mods-available/{f}"
    with open(os.path.join(conf, "mods-available", "cis2.load")) as f:
        assert ("LoadModule cis2_module /usr/lib/apache2/modules/mod_cis2.so"
                in f.read())


def httpd_conf(built, cis2_lines):
    """A throwaway httpd config loading the PACKAGED module (its load line
    with the path of the unpacked tree) and the packaged cis2.conf."""
    d = tempfile.mkdtemp(prefix="cis2-deb-httpd-", dir=built["top"])
    so = os.path.join(built["root"], "usr/lib/apache2/modules/mod_cis2.so")
    with open(os.path.join(built["root"],
                           "etc/apache2/mods-available/cis2.load")) as f:
        load = f.read().replace("/usr/lib/apache2/modules/mod_cis2.so", so)
    path = os.path.join(d, "httpd.conf")
    with open(path, "w") as f:
        f.write(f"""ServerRoot {d}
ServerName 127.0.0.1
Listen 127.0.0.1:{T.free_port()}
PidFile {d}/httpd.pid
ErrorLog {d}/error_log
DefaultRuntimeDir {d}
LoadModule mpm_event_module {T.MODDIR}/mod_mpm_event.so
LoadModule authn_core_module {T.MODDIR}/mod_authn_core.so
LoadModule authz_core_module {T.MODDIR}/mod_authz_core.so
LoadModule authz_user_module {T.MODDIR}/mod_authz_user.so
{load}
Include {built['root']}/etc/apache2/mods-available/cis2.conf
{cis2_lines}
<Location /app>
    AuthType cis2
    Require valid-user
</Location>
""")
    return path


GOOD = """CIS2Environment integration
CIS2ClientID 123456789012.apps.national
CIS2ClientSecret package-test-secret-0123456789
CIS2RedirectURI https://app.example.nhs.uk/cis2/callback
"""


def test_packaged_module_loads(built):
    conf = httpd_conf(built, GOOD)
    p = subprocess.run([T.APACHE2, "-t", "-f", conf], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Syntax OK" in p.stdout + p.stderr
    p = subprocess.run([T.APACHE2, "-t", "-D", "DUMP_MODULES", "-f", conf],
                       capture_output=True, text=True, timeout=60)
    assert "cis2_module (shared)" in p.stdout, p.stdout + p.stderr


def test_packaged_module_checks_config(built):
    """Negative control: the packaged module's configtest really runs."""
    conf = httpd_conf(built, GOOD.replace("CIS2ClientID", "#CIS2ClientID"))
    p = subprocess.run([T.APACHE2, "-t", "-f", conf], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode != 0
    assert "CIS2-00120" in p.stdout + p.stderr
