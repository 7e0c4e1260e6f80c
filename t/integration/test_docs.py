"""The docs an admin lives by stay in step with the source.

- every CIS2-nnnnn log number in the source is explained in
  docs/log-messages.md, each is used at one call site only, and the page
  lists no number the source does not use;
- every directive in the command table is documented in docs/directives.md
  and the page documents no directive that does not exist.
"""
import collections
import pathlib
import re

TOP = pathlib.Path(__file__).resolve().parents[2]
SRC = sorted((TOP / "mod_cis2").glob("*.c"))


def source_numbers():
    uses = collections.Counter()
    for f in SRC:
        text = f.read_text()
        for n in re.findall(r"CIS2_LOGNO\((\d{5})\)", text):
            uses[n] += 1
        # setter messages carry the number in the string itself
        for n in re.findall(r'"CIS2-(\d{5}): ', text):
            uses[n] += 1
    return uses


def test_every_log_number_is_documented_once():
    uses = source_numbers()
    assert uses, "no CIS2_LOGNO found: the scan is broken"
    doc = (TOP / "docs" / "log-messages.md").read_text()
    documented = set(re.findall(r"^\| CIS2-(\d{5}) ", doc, re.M))
    reused = sorted(n for n, c in uses.items() if c > 1)
    assert not reused, f"log numbers used at more than one call site: {reused}"
    missing = sorted(set(uses) - documented)
    assert not missing, f"log numbers missing from docs/log-messages.md: {missing}"
    stale = sorted(documented - set(uses))
    assert not stale, f"docs/log-messages.md lists numbers not in the source: {stale}"


def test_every_directive_is_documented():
    names = set()
    for f in SRC:
        names |= set(re.findall(r'AP_INIT_\w+\(\s*"(CIS2\w+)"', f.read_text()))
    assert len(names) > 10, "directive scan is broken"
    doc = (TOP / "docs" / "directives.md").read_text()
    documented = set(re.findall(r"^### (CIS2\w+)", doc, re.M))
    assert sorted(names - documented) == [], "undocumented directives"
    assert sorted(documented - names) == [], "documented directives that do not exist"
