"""The project files agree with each other: environment.yml vs pyproject.toml, .ci/run vs README."""
import re
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:          # Python 3.10
    from pip._vendor import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~ \[;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _spec(req: str) -> str:
    return req.strip()[len(_name(req)):].replace(" ", "")


def pyproject_deps() -> dict[str, str]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return {_name(d): _spec(d) for d in deps}


def environment_deps() -> dict[str, str]:
    """The conda dependency lines of environment.yml, minus python, pip and the pip: block."""
    deps, in_deps = {}, False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        if line.startswith("dependencies:"):
            in_deps = True
            continue
        m = re.match(r"^  - (\S.*)$", line)
        if in_deps and m:
            item = m.group(1).split("#")[0].strip()
            if item.endswith(":") or _name(item) in ("python", "pip"):
                continue
            deps[_name(item)] = _spec(item)
    return deps


def test_environment_yml_matches_pyproject():
    assert environment_deps() == pyproject_deps()


def test_environment_yml_basics():
    text = (ROOT / "environment.yml").read_text()
    assert re.search(r"^name: lab$", text, re.M)
    assert re.search(r"^  - python=3\.12$", text, re.M)
    assert re.search(r'^      - -e "?\.(\[cluster\])?"?$', text, re.M)   # the project itself (with the Dask extra)


def test_required_packages_are_declared():
    deps = pyproject_deps()
    for pkg in ["numpy", "matplotlib", "jupyterlab", "ipywidgets", "nbval", "pytest", "pytest-xdist", "tqdm",
                "ipykernel"]:
        assert pkg in deps, pkg
    assert deps["jupyterlab"].startswith(">=4") and deps["ipywidgets"].startswith(">=8")


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert re.search(r"^make test$", ci, re.M)
    assert "make test" in readme and "make lab" in readme
