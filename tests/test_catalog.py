"""The catalog: required ids, provenance, parameter counts, user profiles, bad files."""

import textwrap

import pytest

from planner.catalog.loader import load_catalog
from planner.errors import CatalogError
from planner.model.arch import active_params, params

HARDWARE = """apple-m1-7c apple-m1-8c apple-m1-pro-14c apple-m1-pro-16c apple-m1-max-24c apple-m1-max-32c
apple-m1-ultra-48c apple-m1-ultra-64c apple-m2-8c apple-m2-10c apple-m2-pro-16c apple-m2-pro-19c apple-m2-max-30c
apple-m2-max-38c apple-m2-ultra-60c apple-m2-ultra-76c apple-m3-10c apple-m3-pro-14c apple-m3-pro-18c apple-m3-max-30c
apple-m3-max-40c apple-m3-ultra-60c apple-m3-ultra-80c apple-m4-10c apple-m4-pro-16c apple-m4-pro-20c apple-m4-max-32c
apple-m4-max-40c nvidia-rtx-3090 nvidia-rtx-4090 nvidia-rtx-5090 nvidia-rtx-6000-ada nvidia-rtx-pro-6000 nvidia-l40s
nvidia-a100-40gb-pcie nvidia-a100-80gb-pcie nvidia-a100-80gb-sxm nvidia-h100-pcie nvidia-h100-sxm nvidia-h100-nvl
nvidia-h200-sxm nvidia-b200 nvidia-gh200 nvidia-dgx-spark amd-mi300x amd-mi325x amd-rx-7900-xtx
amd-ryzen-ai-max-395""".split()
MODELS = {
    "llama-2-7b": [],
    "llama-2-70b": [],
    "llama-3.1-8b": ["llama-3-8b"],
    "llama-3.1-70b": ["llama-3-70b", "llama-3.3-70b", "deepseek-r1-distill-llama-70b"],
    "llama-3.1-405b": [],
    "mistral-7b": [],
    "qwen2.5-7b": [],
    "qwen2.5-72b": [],
    "qwen3-30b-a3b": [],
    "qwen3-235b-a22b": [],
    "mixtral-8x7b": [],
    "gpt-oss-120b": [],
    "deepseek-r1": ["deepseek-v3"],
}
QUANTS = "f16 bf16 fp8 q8_0 q6_k q5_k_m q4_k_m q4_0 iq2_xxs iq1_s mlx-4bit mlx-8bit mxfp4".split()
ENGINES = {"llama.cpp": ["ollama"], "mlx": [], "vllm": [], "sglang": [], "tensorrt-llm": []}


def test_every_required_id_loads(cat):
    for h in HARDWARE:
        assert cat.resolve("hardware", h) == h
    for m, aliases in MODELS.items():
        assert cat.resolve("models", m) == m
        for a in aliases:
            assert cat.resolve("models", a) == m
    for q in QUANTS:
        assert cat.resolve("quants", q) == q
    for e, aliases in ENGINES.items():
        assert cat.resolve("engines", e) == e
        for a in aliases:
            assert cat.resolve("engines", a) == e


def test_aliases_are_unambiguous(cat):
    for kind in ("hardware", "models", "quants", "engines"):
        seen = {}
        for pid, prof in getattr(cat, kind).items():
            for name in [pid, *prof.aliases]:
                assert name.lower() not in seen or seen[name.lower()] == pid, (kind, name, pid, seen.get(name.lower()))
                seen[name.lower()] = pid


def test_hardware_figures_have_sources(cat):
    for h in cat.hardware.values():
        figs = [h.memory_bandwidth_gbs, h.power_max_w, *h.tflops.values()]
        for f in figs:
            assert f.source or f.derived, h.id
        assert h.memory_source
        for p in h.prices:
            assert p.source and p.date


@pytest.mark.parametrize("model_id", list(MODELS))
def test_parameter_count_matches_published_total(cat, model_id):
    m = cat.models[model_id]
    total = params(m).total / 1e9
    published = m.published_total_params_b.value
    assert abs(total - published) / published <= 0.02, (model_id, total, published)
    if m.published_active_params_b and m.arch == "moe":
        act = active_params(m) / 1e9
        pub = m.published_active_params_b.value
        assert abs(act - pub) / pub <= 0.10, (model_id, act, pub)


def test_unknown_id_suggests_closest(cat):
    with pytest.raises(CatalogError) as e:
        cat.resolve("hardware", "nvidia-h100-sxn", "hardware")
    msg = str(e.value)
    assert "unknown hardware id 'nvidia-h100-sxn'" in msg and "nvidia-h100-sxm" in msg
    with pytest.raises(CatalogError) as e:
        cat.resolve("models", "lama-3.1-8b", "model")
    assert "llama-3.1-8b" in str(e.value)


def _user_dir(tmp_path, kind, name, text):
    d = tmp_path / kind
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_text(textwrap.dedent(text))
    return tmp_path


GOOD_GPU = """
id = "my-gpu"
name = "My GPU 48GB"
vendor = "nvidia"
family = "nvidia-ada"
memory = "discrete"
memory_gb = [48]
memory_source = "my datasheet"
memory_bandwidth_gbs = { value = 900, source = "my datasheet" }
power_max_w = { value = 300, source = "my datasheet" }
[tflops]
fp16 = { value = 180, source = "my datasheet" }
"""


def test_user_profile_dir_adds_and_overrides(tmp_path):
    d = _user_dir(tmp_path, "hardware", "my-gpu.toml", GOOD_GPU)
    cat = load_catalog(d)
    assert cat.hardware["my-gpu"].memory_bandwidth_gbs.value == 900
    assert "nvidia-h100-sxm" in cat.hardware  # built-ins still there
    over = GOOD_GPU.replace('id = "my-gpu"', 'id = "nvidia-h100-sxm"').replace("900", "1234")
    _user_dir(tmp_path, "hardware", "h100.toml", over)
    cat = load_catalog(d)
    assert cat.hardware["nvidia-h100-sxm"].memory_bandwidth_gbs.value == 1234


def test_env_var_profiles(tmp_path, monkeypatch):
    d = _user_dir(tmp_path, "hardware", "my-gpu.toml", GOOD_GPU)
    monkeypatch.setenv("PLANNER_PROFILES", str(d))
    assert "my-gpu" in load_catalog().hardware


@pytest.mark.parametrize(
    "bad,field,expect",
    [
        (
            GOOD_GPU.replace(
                'memory_bandwidth_gbs = { value = 900, source = "my datasheet" }',
                "memory_bandwidth_gbs = { value = 900 }",
            ),
            "memory_bandwidth_gbs",
            "source",
        ),
        (GOOD_GPU.replace('vendor = "nvidia"', 'vendor = "intel"'), "vendor", "apple"),
        (GOOD_GPU.replace("memory_gb = [48]", "memory_gb = [-48]"), "memory_gb", "> 0"),
        (GOOD_GPU.replace("fp16 = {", "fp17 = {"), "tflops", "fp17"),
        (GOOD_GPU.replace("[tflops]", "bogus_field = 1\n[tflops]"), "bogus_field", "not permitted"),
        (
            GOOD_GPU.replace("memory_bandwidth_gbs = { value = 900,", "memory_bandwidth_gbs = { value = 5e-324,"),
            "memory_bandwidth_gbs",
            "between 0.1 and",
        ),  # a denormal made every predicted time infinite
    ],
)
def test_bad_profile_names_file_and_field(tmp_path, bad, field, expect):
    d = _user_dir(tmp_path, "hardware", "broken.toml", bad)
    with pytest.raises(CatalogError) as e:
        load_catalog(d)
    msg = str(e.value)
    assert "broken.toml" in msg and field in msg and expect in msg, msg


def test_bad_toml_syntax(tmp_path):
    d = _user_dir(tmp_path, "models", "broken.toml", "id = \n")
    with pytest.raises(CatalogError) as e:
        load_catalog(d)
    assert "broken.toml" in str(e.value) and "TOML" in str(e.value)


def test_missing_profiles_dir():
    with pytest.raises(CatalogError) as e:
        load_catalog("/nonexistent/profiles")
    assert "does not exist" in str(e.value)


def _walk(obj, path):
    """Every pydantic model under `obj`, with a dotted path."""
    from pydantic import BaseModel

    if isinstance(obj, BaseModel):
        yield path, obj
        for name in type(obj).model_fields:
            yield from _walk(getattr(obj, name), f"{path}.{name}")
    elif isinstance(obj, (list, tuple)):
        for i, x in enumerate(obj):
            yield from _walk(x, f"{path}[{i}]")
    elif isinstance(obj, dict):
        for k, x in obj.items():
            yield from _walk(x, f"{path}[{k}]")


def _cited(m):
    """Aggregator hits in the model's own source-like text fields (not in its children)."""
    from planner.catalog.loader import cites_aggregator

    for name in type(m).model_fields:
        v = getattr(m, name)
        if isinstance(v, str) and ("source" in name or name in ("derived", "note")):
            hit = cites_aggregator(v)
            if hit:
                yield name, hit


def test_aggregator_citations_are_low_confidence(cat):
    """A figure or price citing an aggregator, RSS reader, proxy or bare IP address says confidence = "low" with
    the reason; a model with no confidence field may not cite one at all (issue 11)."""
    from planner.catalog.loader import cites_aggregator

    assert cites_aggregator("see https://awesomeagents.ai/hardware/x") == "awesomeagents.ai"
    assert cites_aggregator("copy at http://45.77.220.82:5123/p/i/") == "http://45.77.220.82"
    assert cites_aggregator("https://www.amd.com/en/products/accelerators/instinct/mi300/mi325x.html") is None
    bad, low = [], 0
    for kind in ("hardware", "chassis", "hosts", "systems", "interconnects", "platforms"):
        for pid, prof in getattr(cat, kind).items():
            for path, m in _walk(prof, f"{kind}/{pid}"):
                hits = list(_cited(m))
                if not hits:
                    continue
                if "confidence" not in type(m).model_fields:
                    bad.append(f"{path}: cites {hits} and has no confidence field")
                elif m.confidence != "low" or not m.confidence_note:
                    bad.append(f"{path}: cites {hits} but is not marked confidence = 'low' with a note")
                else:
                    low += 1
    assert not bad, "\n".join(bad)
    assert low >= 1  # the rule is exercised by the built-in profiles


def test_low_confidence_needs_a_reason():
    from pydantic import ValidationError

    from planner.catalog.loader import Figure

    with pytest.raises(ValidationError, match="confidence_note"):
        Figure(value=1, source="x", confidence="low")
    assert Figure(value=1, source="x", confidence="low", confidence_note="aggregator").confidence == "low"


def test_an_absurd_memory_size_is_bad_input_naming_the_field(tmp_path):
    """A hardware overlay selling 1e308 GB (a fuzz finding: usable memory became inf and the KV
    arithmetic NaN) is refused with the file and the field named, never a traceback later."""
    src = (load_catalog().origins[("hardware", "apple-m1-7c")]).read_text(encoding="utf-8")
    (tmp_path / "hardware").mkdir()
    bad = tmp_path / "hardware" / "m1.toml"
    bad.write_text(src.replace("memory_gb = [8, 16]", "memory_gb = [1e+308, 16]"), encoding="utf-8")
    assert "1e+308" in bad.read_text(encoding="utf-8")
    with pytest.raises(CatalogError) as exc:
        load_catalog(tmp_path)
    assert str(bad) in str(exc.value) and "memory_gb" in str(exc.value)
