"""A real browser through the real demo: headless Chromium (Debian's
chromium + chromium-driver, driven by Debian's python3-selenium) opens the
demo started by `t/demo/run`, is sent to the CIS2 simulator's sign-in page,
signs in as a test user, lands on the demo app and sees its CIS2 identity,
signs out, and is refused at AAL2. Screenshots are saved under
t/integration/artifacts/ (printed at the end)."""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

import cis2test as T

ARTIFACTS = os.path.join(T.HERE, "artifacts")
DEMO = os.path.join(T.REPO, "t", "demo", "run")


def _webdriver():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("python3-selenium missing: apt-get install python3-selenium "
                    "(t/setup installs it)", pytrace=False)
    for path in ("/usr/bin/chromium", "/usr/bin/chromedriver"):
        if not os.path.exists(path):
            pytest.fail(f"{path} missing: apt-get install chromium chromium-driver "
                        "(t/setup installs them)", pytrace=False)
    return webdriver, Service


@pytest.fixture(scope="module")
def demo():
    """t/demo/run on free ports; stopped (with its httpd and simulator) at
    the end of the module."""
    port, sim_port = T.free_port(), T.free_port()
    env = dict(os.environ, PORT=str(port), SIM_PORT=str(sim_port))
    proc = subprocess.Popen(["bash", DEMO], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    out = []
    deadline = time.time() + 600          # t/setup may build first
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        out.append(line)
        if "Ctrl-C stops the demo" in line:
            break
    text = "".join(out)
    assert "mod_cis2 demo is running" in text, f"t/demo/run failed:\n{text}"
    m = re.search(r"Logs:\s+(\S+)", text)
    yield {"base": f"http://127.0.0.1:{port}", "sim_port": sim_port,
           "log": m.group(1) if m else None, "banner": text}
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@pytest.fixture
def browser():
    webdriver, Service = _webdriver()
    profile = tempfile.mkdtemp(prefix="cis2-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu",
              "--disable-dev-shm-usage", "--disable-background-networking",
              "--disable-component-update", "--disable-sync",
              "--no-first-run", "--no-default-browser-check",
              f"--user-data-dir={profile}", "--window-size=1200,1000"):
        opts.add_argument(a)
    drv = webdriver.Chrome(service=Service("/usr/bin/chromedriver"),
                           options=opts)
    drv.set_page_load_timeout(30)
    yield drv
    drv.quit()
    shutil.rmtree(profile, ignore_errors=True)


def shot(drv, name):
    os.makedirs(ARTIFACTS, exist_ok=True)
    path = os.path.join(ARTIFACTS, name)
    drv.save_screenshot(path)
    assert os.path.getsize(path) > 5000, f"empty screenshot {path}"
    print(f"\nscreenshot: {path}")
    return path


def wait_for(drv, cond, what, timeout=20):
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        WebDriverWait(drv, timeout).until(lambda d: cond(d))
    except Exception:
        raise AssertionError(f"timed out waiting for {what}; at "
                             f"{drv.current_url}: {drv.page_source[:1500]}")


def sign_in(drv, demo, user, role=None):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    drv.get(demo["base"] + "/app/")
    wait_for(drv, lambda d: "/interaction/" in d.current_url, "the sign-in page")
    # the demo sent us to the simulator's sign-in page
    assert f":{demo['sim_port']}/interaction/" in drv.current_url, drv.current_url
    assert "NHS CIS2 Authentication (simulator)" in drv.title
    form = drv.find_element(By.ID, f"login-{user}")
    if role is not None:
        Select(form.find_element(By.NAME, "role")).select_by_value(role)
    return form


def test_sign_in_see_identity_sign_out(demo, browser):
    from selenium.webdriver.common.by import By

    users = {u.login: u for u in T.sim_users()}
    doctor = users["doctor"]
    role = doctor.roles[1]                    # not the default first role
    form = sign_in(browser, demo, "doctor", role["person_roleid"])
    # the picker lists each user's roles, so a person can choose a case
    page = browser.find_element(By.TAG_NAME, "body").text
    for u in ("nurse", "doctor", "noroles", "manyroles", "aal2"):
        assert f"Sign in as {u}" in page
    assert "(no roles)" in page and "more" in page
    shot(browser, "sim-login-page.png")
    form.find_element(By.TAG_NAME, "button").click()
    wait_for(browser, lambda d: d.find_elements(By.ID, "uid"), "the demo app")

    # back on the demo app, signed in, with the chosen role
    assert browser.current_url == demo["base"] + "/app/", browser.current_url
    assert browser.find_element(By.ID, "uid").text == doctor.sub
    ident = browser.find_element(By.ID, "identity").text
    assert doctor.raw["name"] in ident
    assert role["org_code"] in browser.find_element(By.ID, "org").text
    assert role["person_roleid"] in browser.find_element(By.ID, "role").text
    acts = browser.find_element(By.ID, "activities").text
    for code in role.get("activity_codes", [])[:3]:
        assert code in acts
    assert "AAL3" in browser.find_element(By.ID, "assurance").text
    exp = browser.find_element(By.ID, "expires").text
    assert "UTC" in exp and "in 1" in exp, exp   # 12 h: "in 11 h 59 min"
    links = {a.text: a.get_attribute("href")
             for a in browser.find_elements(By.TAG_NAME, "a")}
    assert links["Sign out"].endswith("/cis2/logout")
    assert "Change role" in links
    shot(browser, "demo-app.png")

    # the status page counts it and shows nothing about the user
    browser.get(demo["base"] + "/cis2-status?json")
    st = json.loads(browser.find_element(By.TAG_NAME, "body").text)
    assert st["logins"]["completed"] >= 1
    assert doctor.sub not in json.dumps(st)

    # sign out, and the app asks for a sign-in again
    browser.get(demo["base"] + "/app/")
    browser.find_element(By.LINK_TEXT, "Sign out").click()
    wait_for(browser, lambda d: "You have signed out" in d.page_source,
             "the signed-out page")
    browser.get(demo["base"] + "/app/")
    wait_for(browser, lambda d: "/interaction/" in d.current_url,
             "a new sign-in")


def test_aal2_user_is_refused_with_a_reference(demo, browser):
    from selenium.webdriver.common.by import By

    sign_in(browser, demo, "aal2").find_element(By.TAG_NAME, "button").click()
    wait_for(browser, lambda d: "stronger" in d.title, "the refusal page")
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "A stronger sign-in is needed" in browser.title
    m = re.search(r"reference: ([0-9A-Z]{8})", body)
    assert m, body
    shot(browser, "demo-aal2-refused.png")
    # the reference is in the demo's log, on the numbered line
    with open(demo["log"]) as f:
        lines = [l for l in f if f"ref={m.group(1)}" in l]
    assert len(lines) == 1 and "CIS2-00304" in lines[0] and "aal_too_low" in lines[0]
