"""Plain-language meaning of every term the app shows: one line each, used as tooltips and on the Glossary page.
One home: pages import `HELP` (by key) and `TERMS` (for the glossary)."""

TERMS: dict[str, tuple[str, str]] = {
    # key: (term as shown, one-line meaning)
    "ttft": (
        "TTFT (time to first token)",
        "how long a person waits after sending a request until the answer "
        "starts to appear: queueing plus reading (prefilling) the prompt",
    ),
    "tpot": (
        "TPOT (time per output token)",
        "how long each further word-piece of the answer takes once it has "
        "started; 50 ms per token is about 20 tokens/s, faster than people read",
    ),
    "p95": (
        "p95 (95th percentile)",
        "the value that 95% of requests do better than: the slow end of normal, not the average",
    ),
    "p50": ("p50 (median)", "the value half the requests do better than"),
    "slo": (
        "SLO (service-level objective)",
        "the target the machine must meet, e.g. first token within 3 s for 95% of requests",
    ),
    "meets": (
        "meets the target",
        "fits in memory, drops nothing, and the p95 of each metric with a target is within it, over all "
        "requests and over the later half of the run (the same test as the Capacity plan's)",
    ),
    "goodput": (
        "goodput (on target)",
        "the share of requests that met every target that is set, each read as a limit per request",
    ),
    "closed": (
        "closed loop",
        "a fixed number of people; each sends the next request only after the previous "
        "answer ended (plus think time), so a slow machine also slows the requests",
    ),
    "think": ("think time", "the time a person spends reading an answer before sending the next request"),
    "poisson": (
        "Poisson arrivals",
        "requests arrive at random moments at a steady mean rate, independent of how fast the machine answers",
    ),
    "prefill": (
        "prefill",
        "reading the whole prompt before the first output token; grows with prompt length and needs compute",
    ),
    "decode": ("decode", "writing the answer one token at a time; limited by memory bandwidth"),
    "tp": ("tp (tensor parallel)", "each layer is split across devices, which work on every token together"),
    "pp": (
        "pp (pipeline parallel)",
        "the layers are divided between devices (or machines), each doing its share in turn",
    ),
    "ep": ("ep (expert parallel)", "the experts of a mixture-of-experts model are spread over devices"),
    "kv": (
        "KV cache",
        "memory holding what the model has read so far for each request; grows with every "
        "token and every concurrent request",
    ),
    "knee": ("knee", "the load beyond which waiting times shoot up: the most this machine should carry"),
    "pareto": ("Pareto front", "the options no other option beats on both cost and speed at once"),
    "dominated": (
        "dominated (analytically)",
        "ruled out without simulating: another option is both cheaper and at least as fast by the formulas",
    ),
    "pue": (
        "PUE (power usage effectiveness)",
        "total building power per unit of computer power: 1.0 at home, "
        "about 1.3 in a data centre (cooling, power losses)",
    ),
    "replica": ("replica", "one complete copy of the machine serving the model; requests are shared between replicas"),
    "tight": (
        "tight fit",
        "fits, but with less than 5% of the usable memory left or too little room for the "
        "requested concurrent sequences",
    ),
    "quote": (
        "your quote",
        "the price you were offered for one replica as a working machine; replaces the catalog's prices",
    ),
    "chassis": ("chassis", "the machine around the GPU cards: case, CPU, RAM, power supply, networking"),
    "gb": (
        "GB as sold",
        "capacities are shown as the vendor sells them (a 96 GB card); the arithmetic uses GiB "
        "(1 GiB = 1.074 GB) where runtimes do",
    ),
    "usd_per_mtok": (
        "$ per million tokens",
        "(price + energy over the amortisation years) / output tokens served in that time",
    ),
}

HELP: dict[str, str] = {k: f"{t}: {d}" for k, (t, d) in TERMS.items()}
