"""Packaging: the wheel carries the built-in catalog and data, and works installed, from another directory."""

import json
import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from planner import paths
from planner.catalog import loader as catalog_mod
from planner.errors import CatalogError

REPO = Path(__file__).resolve().parent.parent


def test_builtin_data_is_package_data():
    """Every built-in file is found through planner.paths, inside the planner package."""
    pkg = Path(paths.__file__).resolve().parent  # the planner package (paths.py sits at its top)
    for parts in (("profiles", "hardware"), ("data", "calibration.csv"), ("data", "claims.toml")):
        p = paths.require(*parts)
        assert pkg in p.resolve().parents, p
    assert catalog_mod.BUILTIN_DIR == paths.builtin("profiles")


def test_missing_builtin_catalog_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(catalog_mod, "BUILTIN_DIR", tmp_path / "nowhere")
    with pytest.raises(CatalogError, match="built-in catalog is missing"):
        catalog_mod.load_catalog()
    with pytest.raises(CatalogError, match="not found"):
        paths.require("data", "no-such-file.csv")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel built from this checkout, installed into a fresh venv (no editable link to the source).
    Dependencies come from this interpreter's site-packages (added by a .pth file), so nothing but the
    build backend is downloaded."""
    tmp = tmp_path_factory.mktemp("wheel")
    dist = tmp / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(dist)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    wheel = next(dist.glob("inference_planner-*.whl"))
    env_dir = tmp / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    site = Path(
        subprocess.check_output(
            [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )
    inst = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "-q", str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert inst.returncode == 0, inst.stdout + inst.stderr
    # the dependencies (numpy, pydantic, simpy, ...) from the test interpreter; its .pth files (an
    # editable install of the source tree) are not processed for a path listed in a .pth file
    (site / "zz_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return py, wheel, tmp


def _run(py, cwd, *args, env=None):
    e = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PLANNER_PROFILES")}
    e.update(env or {})
    return subprocess.run(
        [str(py), "-m", "planner", *args], cwd=cwd, capture_output=True, text=True, env=e, timeout=300
    )


def test_wheel_holds_the_catalog_and_data(installed):
    import zipfile

    _, wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for rel in (
        "planner/profiles/hardware/apple-m3-ultra-80c.toml",
        "planner/data/calibration.csv",
        "planner/data/claims.toml",
        "planner/profiles/calibration/llama.cpp.toml",
    ):
        assert rel in names, rel
    ours = {p.relative_to(REPO / "planner").as_posix() for p in (REPO / "planner" / "profiles").rglob("*.toml")}
    assert {f"planner/{r}" for r in ours} <= names
    # the compiled modules (setup.py), each with the hash of the source it was built from (which selects it)
    # and its source (PLANNER_PURE_PYTHON=1 runs it); not the C that Cython wrote
    compiled = sorted(n for n in names if n.startswith("planner/") and n.endswith((".so", ".pyd")))
    assert not [n for n in names if n.endswith(".c")]
    if compiled or os.environ.get("CI", "").lower() in ("1", "true", "yes"):  # (CI has a C compiler)
        assert [n.split(".")[0] for n in compiled] == ["planner/model/typed", "planner/sim/engine"], compiled
        for src in ("planner/model/typed.py", "planner/sim/engine.py"):
            assert src in names and src + ".sha256" in names


SIM = [
    "simulate",
    "--hardware",
    "nvidia-h100-sxm",
    "--model",
    "llama-3.1-8b",
    "--quant",
    "fp8",
    "--engine",
    "vllm",
    "--rate",
    "20",
    "--requests",
    "300",
    "--json",
]


def test_installed_wheel_runs_its_compiled_modules_and_the_same_numbers(installed):
    """Installed from the wheel, the compiled modules run (not the sources; also with PLANNER_PURE_PYTHON=0) and
    give the same `simulate --json` as the sources (PLANNER_PURE_PYTHON=1)."""
    py, wheel, tmp = installed
    import zipfile

    if not any(n.endswith((".so", ".pyd")) for n in zipfile.ZipFile(wheel).namelist()):
        pytest.skip("the wheel holds no compiled module (no C compiler where it was built)")
    code = (
        "import json, planner.sim.engine, planner.model.typed; from planner.sim import engine_build; "
        "print(json.dumps(engine_build()))"
    )
    e = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PLANNER_PURE_PYTHON")}
    out = json.loads(subprocess.check_output([str(py), "-c", code], cwd=tmp, text=True, env=e))
    assert out["compiled"] and str(tmp / "venv") in out["file"], out
    assert all(m["compiled"] and str(tmp / "venv") in m["file"] for m in out["modules"].values()), out
    for value, compiled in (("0", True), ("1", False)):  # ("0": not set)
        ran = subprocess.check_output(
            [str(py), "-c", code], cwd=tmp, text=True, env={**e, "PLANNER_PURE_PYTHON": value}
        )
        assert json.loads(ran)["compiled"] is compiled, ran
    fast = _run(py, tmp, *SIM, env={"PLANNER_PURE_PYTHON": "0"})
    slow = _run(py, tmp, *SIM, env={"PLANNER_PURE_PYTHON": "1"})
    assert fast.returncode == 0 and slow.returncode == 0, fast.stderr + slow.stderr
    # (the JSON's figures are rounded; the golden summaries compare every bit: tests/test_compiled_engine.py)
    assert json.loads(fast.stdout) == json.loads(slow.stdout) and json.loads(fast.stdout)["completed"] == 300


def test_a_build_without_a_c_compiler_installs_the_sources(tmp_path):
    """The compiled modules are optional: where the C compiler fails, the wheel still builds, holds no compiled
    module, and its sources run (setup.py)."""
    env = {**os.environ, "CC": "false"}  # a compiler that fails at once
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    import zipfile

    names = zipfile.ZipFile(next(tmp_path.glob("inference_planner-*.whl"))).namelist()
    assert "planner/sim/engine.py" in names and "planner/model/typed.py" in names
    assert not [n for n in names if n.endswith((".so", ".pyd", ".sha256"))], names


def test_installed_wheel_predicts_and_lists_the_catalog_from_another_directory(installed):
    py, _, tmp = installed
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    where = subprocess.check_output(
        [str(py), "-c", "import planner, sys; print(planner.__file__)"], cwd=elsewhere, text=True
    ).strip()
    assert str(tmp / "venv") in where and str(REPO) not in where
    res = _run(
        py,
        elsewhere,
        "predict",
        "--hardware",
        "apple-m3-ultra-80c",
        "--memory-gb",
        "512",
        "--model",
        "deepseek-r1",
        "--quant",
        "q4_k_m",
        "--engine",
        "llama.cpp",
        "--json",
    )
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["fits"] and out["decode_tok_s"] > 0
    local = subprocess.run(
        [
            sys.executable,
            "-m",
            "planner",
            "predict",
            "--hardware",
            "apple-m3-ultra-80c",
            "--memory-gb",
            "512",
            "--model",
            "deepseek-r1",
            "--quant",
            "q4_k_m",
            "--engine",
            "llama.cpp",
            "--json",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert json.loads(local.stdout) == out  # the installed package computes what the source tree does
    cat = _run(py, elsewhere, "catalog", "hardware", "--json")
    assert cat.returncode == 0, cat.stderr
    ids = {r["id"] for r in json.loads(cat.stdout)}
    assert "apple-m3-ultra-80c" in ids and len(ids) >= 40


def test_installed_wheel_overlays_user_profiles(installed, tmp_path):
    py, _, _ = installed
    src = (REPO / "planner" / "profiles" / "hardware" / "nvidia-h100-sxm.toml").read_text()
    (tmp_path / "hardware").mkdir()
    lines = [ln for ln in src.splitlines() if not ln.startswith(("id =", "aliases ="))]
    (tmp_path / "hardware" / "my-gpu.toml").write_text('id = "my-gpu"\n' + "\n".join(lines) + "\n")
    for how in ({"args": ["--profiles", str(tmp_path)]}, {"env": {"PLANNER_PROFILES": str(tmp_path)}}):
        res = _run(py, tmp_path, "catalog", "hardware", "--json", *how.get("args", []), env=how.get("env"))
        assert res.returncode == 0, res.stderr
        assert "my-gpu" in {r["id"] for r in json.loads(res.stdout)}
    bad = _run(py, tmp_path, "catalog", "--profiles", str(tmp_path / "missing"))
    assert bad.returncode == 2 and "does not exist" in bad.stderr and "Traceback" not in bad.stderr
