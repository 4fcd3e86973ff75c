"""Reading NVIDIA's measured-kernel tables without pandas (planner/model/kernel_tables.py): the same
values as pandas' read_parquet, and the same reductions as pandas' groupby-min and pivot_table."""

import os

import numpy as np
import pandas as pd
import pytest

from planner.model import kernel_tables, kernels

ROOT = kernels.data_root()
needs_tables = pytest.mark.skipif(
    ROOT is None and os.environ.get("CI") != "true", reason="aiconfigurator-core (extra nvidia-data) not installed"
)

TABLES = [
    ("h100_sxm/gemm/vllm/0.24.0/gemm_perf.parquet", ["gemm_dtype", "m", "n", "k", "latency"]),
    ("h100_sxm/attention/vllm/0.24.0/generation_attention_perf.parquet", None),
    ("b200_sxm/moe/trtllm/1.3.0rc23/moe_perf.parquet", ["moe_dtype", "num_tokens", "distribution", "latency"]),
    ("h200_sxm/comm/vllm/0.24.0/custom_allreduce_perf.parquet", ["num_gpus", "message_size", "latency", "backend"]),
]


@needs_tables
@pytest.mark.parametrize("rel,columns", TABLES)
def test_columns_equal_pandas_read_parquet(rel, columns):
    path = ROOT / rel
    ref = pd.read_parquet(path)
    got = kernel_tables.read(path, columns)
    names = [c for c in columns if c in ref] if columns else list(ref.columns)
    assert list(got.columns) == names and len(got) == len(ref) > 100
    for c in names:
        want = ref[c].to_numpy()
        if want.dtype.kind in "iufb":  # numbers: same dtype, same bits
            assert got[c].dtype == want.dtype and got[c].tobytes() == want.tobytes(), c
        else:  # strings
            assert got[c].dtype == object and got[c].tolist() == ref[c].tolist(), c


@needs_tables
def test_a_missing_column_is_left_out_and_rows_filter():
    path = ROOT / TABLES[0][0]
    t = kernel_tables.read(path, ["gemm_dtype", "no_such_column", "latency"])
    assert "no_such_column" not in t and list(t.columns) == ["gemm_dtype", "latency"]
    fp8 = t[t["gemm_dtype"] == "fp8"]
    assert 0 < len(fp8) < len(t) and set(fp8["gemm_dtype"].tolist()) == {"fp8"}
    assert t[t["gemm_dtype"] == "no such dtype"].empty


def test_group_min_and_pivot_min_equal_pandas():
    rng = np.random.default_rng(7)
    n = 400
    df = pd.DataFrame(
        {
            "a": rng.integers(1, 9, n),
            "b": rng.choice([16.0, 32.0, 64.0, np.nan], n),
            "v": np.where(rng.random(n) < 0.2, np.nan, rng.random(n)),
        }
    )
    df.loc[df["a"] == 8, "v"] = np.nan  # a key whose values are all missing
    g = df.groupby("b")["v"].min()
    keys, mins = kernel_tables.group_min(df["b"].to_numpy(), df["v"].to_numpy())
    assert keys.tolist() == g.index.tolist() and mins.tobytes() == g.to_numpy(float).tobytes()
    g = df.groupby("a")["v"].min()
    keys, mins = kernel_tables.group_min(df["a"].to_numpy(), df["v"].to_numpy())
    assert keys.tolist() == g.index.tolist() and np.isnan(mins[-1])
    assert np.array_equal(mins, g.to_numpy(float), equal_nan=True)
    piv = df.pivot_table(index="a", columns="b", values="v", aggfunc="min")
    rows, cols, mat = kernel_tables.pivot_min(df["a"].to_numpy(), df["b"].to_numpy(), df["v"].to_numpy())
    assert rows.tolist() == piv.index.tolist() and cols.tolist() == piv.columns.tolist()
    assert 8 not in rows.tolist()  # pandas drops a row without a value
    assert np.array_equal(mat, piv.to_numpy(float), equal_nan=True)
    empty = kernel_tables.pivot_min(np.array([1]), np.array([2]), np.array([np.nan]))
    assert empty[2].size == 0
