"""Reading NVIDIA's measured-kernel tables (the optional ``nvidia-data`` extra) into numpy arrays.

``read(path, columns)`` returns a ``Table``: each column one numpy array (strings as object
arrays of ``str``), filtered with boolean masks (``table[mask]``). It reads the parquet files
with pyarrow's parquet reader (a dependency of ``aiconfigurator-core``) and takes the columns'
buffers as numpy arrays as they are: no pandas (importing it cost about 0.5 s of a fresh
process's first table, the DataFrame work as much again), no pyarrow.compute. The values are
the file's own: ``tests/test_kernel_tables.py`` compares them with pandas' ``read_parquet``.

The reductions the measured provider needs over these tables (``planner/model/kernels.py``):
``group_min`` (the fastest measurement per key, pandas' ``groupby(key)[value].min()``) and
``pivot_min`` (pandas' ``pivot_table(index, columns, values, aggfunc="min")``), same values.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# arrow type name -> numpy dtype of its data buffer (the fixed-width types the tables use)
_NUMERIC = {
    "int8": np.int8,
    "int16": np.int16,
    "int32": np.int32,
    "int64": np.int64,
    "uint8": np.uint8,
    "uint16": np.uint16,
    "uint32": np.uint32,
    "uint64": np.uint64,
    "float": np.float32,
    "double": np.float64,
}


class Table:
    """Equal-length numpy columns by name (a table's rows, or a selection of them)."""

    __slots__ = ("columns", "rows")

    def __init__(self, columns: dict[str, np.ndarray]):
        self.columns = columns
        self.rows = len(next(iter(columns.values()))) if columns else 0

    def __contains__(self, name: object) -> bool:
        return name in self.columns

    def __getitem__(self, key):
        """A column by name, or the rows where a boolean mask is true."""
        if isinstance(key, str):
            return self.columns[key]
        return Table({k: v[key] for k, v in self.columns.items()})

    def __len__(self) -> int:
        return self.rows

    @property
    def empty(self) -> bool:
        return self.rows == 0 or not self.columns

    def select(self, names: list[str]) -> "Table":
        return Table({n: self.columns[n] for n in names if n in self.columns})


def _chunk_array(arr) -> np.ndarray:
    """One arrow array as numpy. Fixed-width columns without nulls: their data buffer as is
    (read-only); strings (read dictionary-encoded): the dictionary indexed; anything else
    through Python objects (nulls as NaN in numbers, None in strings, as pandas reads them)."""
    t = arr.type
    n = len(arr)
    if arr.null_count == 0:
        dt = _NUMERIC.get(str(t))
        if dt is not None:
            return np.frombuffer(arr.buffers()[1], dtype=dt, count=arr.offset + n)[arr.offset :]
        if str(t) == "bool":
            bits = np.frombuffer(arr.buffers()[1], dtype=np.uint8)
            return np.unpackbits(bits, bitorder="little", count=arr.offset + n)[arr.offset :].astype(bool)
        if hasattr(arr, "indices") and arr.indices.null_count == 0:  # dictionary-encoded strings
            cats = np.array(arr.dictionary.to_pylist() + [None], dtype=object)[:-1]
            return cats[_chunk_array(arr.indices)]
    values = arr.to_pylist()
    if str(t) in _NUMERIC:
        return np.array([np.nan if v is None else v for v in values], dtype=float)
    out = np.empty(n, dtype=object)
    out[:] = values
    return out


def read(path: Path, columns: list[str] | None = None) -> Table:
    """A parquet table's columns (all of them, or those of ``columns`` the file has)."""
    import pyarrow.parquet as pq  # lazy: only with the optional nvidia-data extra

    schema = pq.read_schema(path)
    names = [c for c in columns if c in schema.names] if columns is not None else list(schema.names)
    strings = [f.name for f in schema if f.name in names and str(f.type) in ("string", "large_string")]
    data = pq.ParquetFile(path, read_dictionary=strings).read(columns=names, use_threads=False)
    out = {}
    for name in names:
        chunks = data.column(name).chunks
        parts = [_chunk_array(c) for c in chunks]
        out[name] = parts[0] if len(parts) == 1 else np.concatenate(parts) if parts else np.array([])
    return Table(out)


def group_min(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct keys, the smallest value per key): NaN keys dropped, NaN values skipped,
    NaN where a key has no value (pandas' ``groupby(keys)[values].min()``)."""
    keys = np.asarray(keys)
    values = np.asarray(values, dtype=float)
    if keys.dtype.kind == "f":
        ok = ~np.isnan(keys)
        keys, values = keys[ok], values[ok]
    if not len(keys):
        return keys, values
    order = np.argsort(keys, kind="stable")
    k, v = keys[order], values[order]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    return k[starts], np.fmin.reduceat(v, starts)


def pivot_min(rows: np.ndarray, cols: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row keys, column keys, matrix of the smallest value per (row, column), NaN where none):
    pandas' ``pivot_table(index=rows, columns=cols, values=values, aggfunc="min")``, i.e. pairs
    whose every value is NaN are dropped, then rows and columns left without a value."""
    rows, cols = np.asarray(rows), np.asarray(cols)
    values = np.asarray(values, dtype=float)
    ok = ~np.isnan(values)
    for a in (rows, cols):
        if a.dtype.kind == "f":
            ok &= ~np.isnan(a)
    rows, cols, values = rows[ok], cols[ok], values[ok]
    rk, ri = np.unique(rows, return_inverse=True)
    ck, ci = np.unique(cols, return_inverse=True)
    out = np.full((len(rk), len(ck)), np.inf)
    np.minimum.at(out, (ri, ci), values)
    seen = np.zeros(out.shape, dtype=bool)
    seen[ri, ci] = True
    out[~seen] = np.nan
    return rk, ck, out
