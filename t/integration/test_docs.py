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


# ---- issue #8: docs an admin can live by ------------------------------------

BAD_LEVELS = ("emerg", "crit", "error", "warn", "config error")


def test_every_log_row_has_meaning_cause_and_fix():
    doc = (TOP / "docs" / "log-messages.md").read_text()
    rows = re.findall(r"^\| (CIS2-\d{5}) \|(.*)\|\s*$", doc, re.M)
    assert len(rows) > 40, "row scan is broken"
    for num, rest in rows:
        cells = [c.strip() for c in rest.split("|")]
        assert len(cells) == 4, f"{num}: expected level|meaning|cause|fix"
        level, meaning, cause, fix = cells[0], cells[1], cells[2], cells[3]
        assert level and meaning and cause and fix, f"{num}: empty cell"
        if any(level.startswith(b) for b in BAD_LEVELS):
            assert fix not in ("—", "-"), f"{num} ({level}) gives the admin no fix"


def test_troubleshooting_names_only_real_numbers():
    uses = source_numbers()
    doc = (TOP / "docs" / "troubleshooting.md").read_text()
    named = set(re.findall(r"CIS2-(\d{5})", doc))
    # "CIS2-00120, 00121" style lists
    for m in re.finditer(r"CIS2-\d{5}((?:, \d{5})+)", doc):
        named |= set(re.findall(r"\d{5}", m.group(1)))
    assert len(named) > 10, "scan is broken"
    assert sorted(named - set(uses)) == [], "troubleshooting.md names unknown numbers"


def test_every_directive_has_syntax_default_context():
    doc = (TOP / "docs" / "directives.md").read_text()
    sections = re.split(r"^### ", doc, flags=re.M)[1:]
    assert len(sections) > 10
    for sec in sections:
        name = sec.split("\n", 1)[0].strip()
        for field in ("- Syntax:", "- Default:", "- Context:"):
            assert field in sec, f"{name}: no '{field}' line"


def test_doc_links_resolve():
    """Every relative Markdown link in README and docs/ points at a file."""
    files = [TOP / "README"] + sorted((TOP / "docs").glob("*.md"))
    broken = []
    for f in files:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", f.read_text()):
            if "://" in target:
                continue
            if not (f.parent / target).exists():
                broken.append(f"{f.name} -> {target}")
    assert broken == []


def test_readme_commands_exist():
    readme = (TOP / "README").read_text()
    for cmd in ("t/demo/run", "t/run-all"):
        assert cmd in readme and (TOP / cmd).is_file()
    for doc in re.findall(r"^\s+(\w[\w-]*\.md)\s", readme, re.M):
        assert (TOP / "docs" / doc).is_file(), f"README lists docs/{doc}"
