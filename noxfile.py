"""nox sessions CI runs from .ci/run: one per Adobe SDK, the dependency floors, the wheel.

    nox                      # everything
    nox -s umapi aepp        # some sessions
    nox -R                   # reuse the environments of an earlier run (no reinstall)

The SDKs cannot share one environment (umapi-client pins PyJWT 2.4.0 and cryptography < 39;
aanalytics2 needs PyJWT >= 2.10.1), so each gets its own, with the version the integration
is tested against pinned.
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.error_on_missing_interpreters = True

#: session name (also the imstoken extra) -> the SDK release the integration is tested against
SDKS = {
    "umapi": "umapi-client==3.0.1",
    "aepp": "aepp==0.6.0",
    "aanalytics2": "aanalytics2==0.5.5.post3",
    "cjapy": "cjapy==0.3.1",
    "pdfservices": "pdfservices-sdk==4.3.0",
}
TEST_TOOLS = ["pytest>=8", "respx>=0.22"]


def _figures(session: nox.Session, path: Path) -> None:
    if not path.exists():
        return
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        session.log(
            "{sdk:12} {credential:5} {scenario:26} api calls={api_calls:2} "
            "IMS token requests={ims_requests} failed calls={failed_calls} "
            "distinct tokens={distinct_tokens}".format(**row)
        )


def _reinstall(session: nox.Session) -> str:
    """The installer's flag that replaces an imstoken a reused (-r) environment already holds."""
    return "--reinstall-package=imstoken" if session.venv_backend == "uv" else "--force-reinstall"


def _sdk_session(name: str, requirement: str) -> None:
    @nox.session(name=name)
    def run(session: nox.Session) -> None:
        session.install(_reinstall(session), f"{ROOT}[{name}]", requirement, *TEST_TOOLS)
        figures = Path(session.create_tmp()) / "figures.jsonl"
        figures.unlink(missing_ok=True)
        session.run(
            "python", "-m", "pytest", "-q", "-p", "no:cacheprovider",
            f"tests/integrations/test_{name}.py", *session.posargs,
            env={"IMSTOKEN_SDK_FIGURES": str(figures)},
        )  # fmt: skip
        _figures(session, figures)

    run.__doc__ = f"imstoken.integrations.{name} against the real {requirement}."


for _name, _requirement in SDKS.items():
    _sdk_session(_name, _requirement)


#: the extras whose floors the floors session holds the suite to (the SDK extras: their sessions)
FLOOR_EXTRAS = ("redis", "requests", "otel")


def floor_constraints() -> list[str]:
    """``name==floor`` for every ``name>=floor`` imstoken declares (dependencies, extras)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = list(project["dependencies"])
    for extra in FLOOR_EXTRAS:
        declared += project["optional-dependencies"][extra]
    pins = []
    for requirement in declared:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*>=\s*([^,;\s]+)\s*", requirement)
        if match is None:
            raise ValueError(f"no plain '>=' floor in {requirement!r}")
        pins.append(f"{match.group(1)}=={match.group(2)}")
    return pins


SHOW_VERSIONS = """
from importlib.metadata import version
import imstoken
names = ["httpx", "authlib", "joserfc", "cachetools", "cryptography", "redis", "requests",
         "opentelemetry-api", "opentelemetry-sdk"]
print("installed: " + ", ".join(f"{n}=={version(n)}" for n in names))
print("imstoken from " + imstoken.__file__)
"""


@nox.session
def floors(session: nox.Session) -> None:
    """The test suite with every declared dependency at the lowest version pyproject allows."""
    constraints = Path(session.create_tmp()) / "floors.txt"
    constraints.write_text("\n".join(floor_constraints()) + "\n", encoding="utf-8")
    session.log("floors: " + ", ".join(floor_constraints()))
    # A reused environment holds the imstoken of an earlier run (same version): replace it.
    reinstall = (
        "--reinstall-package=imstoken" if session.venv_backend == "uv" else "--force-reinstall"
    )
    session.install(
        reinstall, "-c", str(constraints), f"{ROOT}[{','.join(FLOOR_EXTRAS)}]",
        # opentelemetry-sdk for tests/test_metrics.py: it resolves to the api floor's release.
        *TEST_TOOLS, "freezegun>=1.5", "hypothesis>=6.100", "opentelemetry-sdk",
    )  # fmt: skip
    session.run("python", "-c", SHOW_VERSIONS)
    session.run(
        "python", "-m", "pytest", "-q", "-p", "no:cacheprovider",
        "--ignore=tests/integrations",
        # Whole-process scenarios re-run the same library code at the same versions; the main
        # suite runs them. Leaving them out here keeps CI inside its time budget.
        "--ignore=tests/test_shared_multiprocess.py", "--ignore=tests/test_examples.py",
        "--ignore=tests/test_cli_ops.py", "--ignore=tests/test_redis_production.py",
        "--ignore=tests/test_demo.py", "--ignore=tests/test_exit.py",
        *session.posargs,
    )  # fmt: skip


EXAMPLES = {  # as in tests/test_examples.py
    "before_jwt_by_hand.py": "token requests at IMS for 3 jobs: 3; API calls answered: 3",
    "after_imstoken.py": "token requests at IMS for 6 jobs: jwt=1 oauth=1; API calls answered: 6",
    "asyncio_app.py": "API answered 200 with 200; token requests at IMS: 1",
    "requests_app.py": "token requests at IMS: 1; API calls answered: 3",
    "toml_config.py": "token requests at IMS: jwt=1 oauth=1; API calls answered: 2",
    "fleet_cache.py": "4 processes, API answered 4 with 200; token requests at IMS: 1",
}


@nox.session
def wheel(session: nox.Session) -> None:
    """Build the sdist and wheel, twine-check them, install the wheel, run the demo and examples."""
    session.install("build", "twine")
    dist = Path(session.create_tmp()) / "dist"
    for old in dist.glob("*"):
        old.unlink()
    session.run("python", "-m", "build", "--outdir", str(dist), str(ROOT))
    session.run("python", "-m", "twine", "check", "--strict", *map(str, dist.glob("*")))
    (wheel_file,) = dist.glob("imstoken-*.whl")
    # A reused environment may hold an earlier build of the same version: replace it.
    reinstall = (
        "--reinstall-package=imstoken" if session.venv_backend == "uv" else "--force-reinstall"
    )
    # PyJWT only for examples/before_jwt_by_hand.py, which signs by hand as apps did.
    session.install(reinstall, f"{wheel_file}[requests]", "pyjwt[crypto]>=2.8")
    with session.chdir(dist):  # away from the source tree
        where = session.run(
            "python", "-c", "import imstoken; print(imstoken.__file__)", silent=True
        )
        if "site-packages" not in str(where):
            session.error(f"imstoken was not imported from the installed wheel: {where}")
        session.run("imstoken", "demo")
        for name, expected in EXAMPLES.items():
            output = session.run("python", str(ROOT / "examples" / name), silent=True)
            if expected not in str(output):
                session.error(f"examples/{name} did not print {expected!r}:\n{output}")
            session.log(f"examples/{name}: {expected}")


if __name__ == "__main__":
    sys.exit("run with nox")
