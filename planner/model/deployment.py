"""The deployment: what was asked for, resolved to profiles and checked.

Hardware, memory size, devices, model, quant, engine, KV dtype and scale-out: ``resolve_deployment``
turns ids into catalog profiles and runs the checks in order, each a small function named after what
it checks (``check_counts``, ``check_link``, ``check_parallel``, ``check_offload``,
``check_memory_size``, ``check_stack``, ``check_kv_dtype``, ``check_support``); the first that fails
raises its ScenarioError (UnsupportedError for the support matrix, CatalogError for an unknown id)
naming the field and the fix.  The result, a frozen :class:`Deployment`, is what the memory model
(``planner.model.memory``) and the step-time model (``planner.model.perf``) are built from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from planner.catalog.loader import Catalog, Engine, Hardware, Host, Link, Model, Quant
from planner.catalog.support import Verdict, default_kv_dtype
from planner.catalog.support import check as support_check
from planner.errors import ScenarioError, UnsupportedError


@dataclass(frozen=True)
class Parallel:
    """How a model is split over devices: tensor parallel (every layer sharded, two all-reduces
    per layer), pipeline parallel (stages of consecutive layers), expert parallel (MoE experts
    spread over devices, all-to-all per MoE layer). tp x pp = all devices."""

    tp: int = 1
    pp: int = 1
    ep: int = 1

    @classmethod
    def parse(cls, text: str) -> "Parallel":
        """'tp=8', 'tp=4,pp=2', 'tp=8,ep=8'."""
        vals = {"tp": 1, "pp": 1, "ep": 1}
        for part in (text or "").replace(" ", "").split(","):
            if not part:
                continue
            key, _, val = part.partition("=")
            if key not in vals or not val.isdigit() or int(val) < 1:
                raise ScenarioError("parallel", f"expected e.g. 'tp=4,pp=2,ep=1' (whole numbers >= 1), got '{text}'")
            vals[key] = int(val)
        return cls(**vals)

    def __str__(self) -> str:
        return f"tp={self.tp},pp={self.pp},ep={self.ep}"


def default_parallel(engine: Engine, devices: int, nodes: int, heads: int | None = None) -> Parallel:
    """What each engine does by default: llama.cpp splits layers over all devices (and RPC nodes);
    the serving engines run tensor parallel inside a machine and pipeline stages across machines,
    except an engine whose documented multi-machine deployment is one tensor-parallel group over
    every device (`multi_node_parallel = "tp"`, SGLang's `--tp 16 --nnodes 2`) where the model's
    attention heads divide over them."""
    if engine.batching == "slots":
        return Parallel(tp=1, pp=devices * nodes)
    if nodes > 1 and engine.multi_node_parallel == "tp" and (heads is None or heads % (devices * nodes) == 0):
        return Parallel(tp=devices * nodes, pp=1)
    return Parallel(tp=devices, pp=nodes)


@dataclass(frozen=True)
class Deployment:
    """A resolved (hardware, memory size, devices, model, quant, engine, KV dtype) with its scale-out:
    profiles, not ids, and the parallel split already chosen.  Frozen; hashed by its ids and sizes
    (the profiles themselves hold lists).  Build one with :func:`resolve_deployment` (checked) or
    directly (unchecked, e.g. a variant with another quant)."""

    catalog: Catalog = field(compare=False, repr=False)
    hw: Hardware
    model: Model
    quant: Quant
    engine: Engine
    memory_gb: float  # per device, as sold (GiB)
    devices: int  # devices per node (GPUs in one machine; 1 for a Mac)
    kv_dtype: str
    parallel: Parallel  # resolved: default_parallel() when none was asked for
    usable_override_gb: float | None = None  # per device, as sold
    nodes: int = 1  # machines, joined by `link`
    link: Link | None = None
    host: Host | None = None  # CPU host whose RAM holds offloaded weights
    offload: str | None = None  # "experts" or "layers:N"
    host_memory_gb: float | None = None
    mla_cache: str | None = None  # "latent" / "expanded": override the engine's MLA cache storage
    support: Verdict | None = None  # the support matrix's verdict (None: not checked)
    engine_version: str | None = None  # the engine release to model (measured-kernel provider)

    @property
    def total_devices(self) -> int:
        return self.devices * self.nodes

    @property
    def tp(self) -> int:
        return self.parallel.tp

    @property
    def pp(self) -> int:
        return self.parallel.pp

    @property
    def ep(self) -> int:
        return self.parallel.ep

    def key(self) -> tuple:
        """What identifies the deployment: ids, sizes and settings."""
        return (
            self.hw.id,
            self.model.id,
            self.quant.id,
            self.engine.id,
            self.memory_gb,
            self.devices,
            self.kv_dtype,
            self.parallel,
            self.usable_override_gb,
            self.nodes,
            self.link.id if self.link else None,
            self.host.id if self.host else None,
            self.offload,
            self.host_memory_gb,
            self.mla_cache,
            self.engine_version,
        )

    def __hash__(self) -> int:
        return hash(self.key())


# ---------------------------------------------------------------------------- the checks, in order


def check_counts(devices: int, nodes: int) -> None:
    """Devices per node and nodes within bounds."""
    if devices is None or devices < 1 or devices > 1024:
        raise ScenarioError("devices", f"must be an integer from 1 to 1024, got {devices}")
    if nodes is None or nodes < 1 or nodes > 256:
        raise ScenarioError("nodes", f"must be an integer from 1 to 256, got {nodes}")


def check_link(catalog: Catalog, nodes: int, link: str | None) -> Link | None:
    """The link between nodes: required for more than one node, resolved when given."""
    if nodes > 1 and not link:
        raise ScenarioError(
            "link",
            f"{nodes} nodes need a link between them, e.g. --link thunderbolt5 or "
            "ethernet-100g (`python -m planner catalog interconnects`)",
        )
    return catalog.get("interconnects", link, "link") if link else None


def check_parallel(parallel: Parallel | str | None, m: Model, e: Engine, devices: int, nodes: int) -> Parallel | None:
    """An asked-for parallel split (parsed from text) that covers all devices and fits the model and
    engine; None when none was asked for (default_parallel applies)."""
    if isinstance(parallel, str):
        parallel = Parallel.parse(parallel)
    if parallel is None:
        return None
    total = devices * nodes
    if parallel.tp * parallel.pp != total:
        raise ScenarioError(
            "parallel",
            f"tp x pp = {parallel.tp} x {parallel.pp} must equal all devices "
            f"({devices} per node x {nodes} nodes = {total})",
        )
    if m.num_heads % parallel.tp:
        raise ScenarioError("parallel", f"tp = {parallel.tp} must divide {m.id}'s {m.num_heads} attention heads")
    if parallel.pp > m.num_layers:
        raise ScenarioError("parallel", f"pp = {parallel.pp} exceeds {m.id}'s {m.num_layers} layers")
    if parallel.ep > 1:
        if m.arch != "moe":
            raise ScenarioError("parallel", f"ep = {parallel.ep}: {m.id} is dense, expert parallel needs a MoE model")
        if total % parallel.ep or parallel.ep > m.num_experts:
            raise ScenarioError(
                "parallel",
                f"ep = {parallel.ep} must divide the {total} devices and be at most the {m.num_experts} experts",
            )
    if e.batching == "slots" and parallel.tp > 1:
        raise ScenarioError(
            "parallel",
            f"{e.id} splits layers across devices (pp); tensor parallel is not modelled for it: use pp only",
        )
    return parallel


def check_offload(
    catalog: Catalog,
    hw: Hardware,
    m: Model,
    e: Engine,
    offload: str | None,
    host: str | None,
    host_memory_gb: float | None,
) -> Host | None:
    """Offload to a CPU host's RAM ('experts' or 'layers:N'): a host to hold it, an engine that does
    it, a model that has what is offloaded, separate host memory of a size the host is sold with.
    Returns the host (resolved whenever one is named)."""
    if not offload:
        return catalog.get("hosts", host, "host") if host else None
    if not (offload == "experts" or (offload.startswith("layers:") and offload[7:].isdigit())):
        raise ScenarioError("offload", f"expected 'experts' or 'layers:N', got '{offload}'")
    if not host:
        raise ScenarioError(
            "host",
            "offloading needs a host platform, e.g. --host amd-epyc-9004-genoa (`python -m planner catalog hosts`)",
        )
    host_p = catalog.get("hosts", host, "host")
    if e.id != "llama.cpp":
        raise ScenarioError("offload", f"offload is modelled for llama.cpp (-ot exps=CPU / partial -ngl), not {e.id}")
    if offload == "experts" and m.arch != "moe":
        raise ScenarioError("offload", f"{m.id} is dense: it has no MoE experts to offload; use layers:N")
    if offload.startswith("layers:") and not 0 < int(offload[7:]) < m.num_layers:
        raise ScenarioError("offload", f"layers:N needs 0 < N < {m.num_layers} ({m.id}'s layers)")
    if hw.memory == "unified":
        raise ScenarioError("offload", f"{hw.id} has unified memory: there is no separate host RAM to offload to")
    if host_memory_gb is not None and host_memory_gb not in host_p.memory_gb_options:
        sizes = ", ".join(f"{x:g}" for x in host_p.memory_gb_options)
        raise ScenarioError("host_memory_gb", f"{host_p.id} configurations: {sizes} GB, not {host_memory_gb:g}")
    return host_p


def check_memory_size(hw: Hardware, memory_gb: float | None, usable_memory_gb: float | None) -> float:
    """The memory size: one the hardware is sold with (default: the largest), and a usable limit
    (when given) that is positive and no more than it."""
    if memory_gb is None:
        memory_gb = max(hw.memory_gb)
    elif not math.isfinite(memory_gb) or memory_gb <= 0:
        raise ScenarioError("memory_gb", f"must be a positive size in GB, got {memory_gb}")
    elif memory_gb not in hw.memory_gb:
        sizes = ", ".join(f"{s:g}" for s in hw.memory_gb)
        raise ScenarioError("memory_gb", f"{hw.id} is sold with {sizes} GB, not {memory_gb:g}; pick one of those")
    if usable_memory_gb is not None:
        if not math.isfinite(usable_memory_gb) or usable_memory_gb <= 0:
            raise ScenarioError("usable_memory_gb", f"must be a positive size in GB, got {usable_memory_gb}")
        if usable_memory_gb > memory_gb:
            raise ScenarioError(
                "usable_memory_gb", f"{usable_memory_gb:g} GB is more than the {memory_gb:g} GB the device has"
            )
    return memory_gb


def check_stack(catalog: Catalog, hw: Hardware, q: Quant, e: Engine, devices: int) -> None:
    """The engine runs on the hardware's vendor and loads the format; a unified-memory machine is one
    device (a cluster of them is nodes)."""
    if hw.vendor not in e.vendors:
        raise ScenarioError(
            "engine",
            f"{e.id} does not run on {hw.vendor} hardware; engines that do: "
            + ", ".join(sorted(x.id for x in catalog.engines.values() if hw.vendor in x.vendors)),
        )
    if e.id not in q.engines:
        raise ScenarioError(
            "quant",
            f"{e.id} does not load {q.id}; formats it loads: "
            + ", ".join(sorted(x.id for x in catalog.quants.values() if e.id in x.engines)),
        )
    if devices > 1 and hw.memory == "unified":
        raise ScenarioError(
            "devices",
            f"{hw.id} is one unified-memory machine: use devices = 1 and --nodes N "
            "--link ID for a cluster of such machines",
        )


def check_kv_dtype(catalog: Catalog, hw: Hardware, m: Model, q: Quant, e: Engine, kv_dtype: str | None) -> str:
    """The KV-cache dtype (default: the engine's for this format and hardware), one the format supports."""
    kv = kv_dtype or default_kv_dtype(catalog, hw, m, q, e.id)
    if kv not in q.kv_cache_dtypes:
        raise ScenarioError("kv_dtype", f"{q.id} supports KV cache dtypes {', '.join(q.kv_cache_dtypes)}, not '{kv}'")
    return kv


def check_support(catalog: Catalog, hw: Hardware, m: Model, q: Quant, e: Engine, kv: str) -> Verdict:
    """The support matrix's verdict (planner.catalog.support); UnsupportedError when it refuses."""
    verdict = support_check(catalog, hw, m, q, e.id, kv)
    if not verdict.ok:
        raise UnsupportedError(verdict)
    return verdict


def resolve_deployment(
    catalog: Catalog,
    hardware: str,
    model: str,
    quant: str,
    engine: str,
    *,
    memory_gb: float | None = None,
    devices: int = 1,
    usable_memory_gb: float | None = None,
    kv_dtype: str | None = None,
    nodes: int = 1,
    link: str | None = None,
    parallel: Parallel | str | None = None,
    host: str | None = None,
    offload: str | None = None,
    host_memory_gb: float | None = None,
    mla_cache: str | None = None,
    engine_version: str | None = None,
) -> Deployment:
    """Resolve ids and run the checks in order; raises CatalogError (unknown id), ScenarioError or
    UnsupportedError naming the field."""
    hw = catalog.get("hardware", hardware, "hardware")
    m = catalog.get("models", model, "model")
    q = catalog.get("quants", quant, "quant")
    e = catalog.get("engines", engine, "engine")
    check_counts(devices, nodes)
    link_p = check_link(catalog, nodes, link)
    par = check_parallel(parallel, m, e, devices, nodes)
    host_p = check_offload(catalog, hw, m, e, offload, host, host_memory_gb)
    mem = check_memory_size(hw, memory_gb, usable_memory_gb)
    check_stack(catalog, hw, q, e, devices)
    kv = check_kv_dtype(catalog, hw, m, q, e, kv_dtype)
    verdict = check_support(catalog, hw, m, q, e, kv)
    return Deployment(
        catalog,
        hw,
        m,
        q,
        e,
        float(mem),
        int(devices),
        kv,
        par or default_parallel(e, int(devices), int(nodes), m.num_heads),
        usable_memory_gb,
        int(nodes),
        link_p,
        host_p,
        offload,
        host_memory_gb,
        mla_cache,
        verdict,
        engine_version,
    )
