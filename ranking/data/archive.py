"""Trained state on disk without pickle: one ``.npz`` holding a JSON document and its arrays.

Where it sits: under ``ranking.data.store`` (saved runs, the app's session snapshots). A pickle runs
whatever its bytes name when it is loaded, so a run folder anyone could write (a shared runs
directory, a restored backup) would run code as the server; it also breaks at the next library
upgrade. This format cannot run code:

- the document is JSON: None, bools, numbers (NaN and ±inf included), strings and lists as
  themselves; everything else is a tagged object ``{"$t": tag, ...}``, so a plain JSON object
  never appears untagged and nothing is ambiguous;
- arrays are members of the ``.npz``, read with ``allow_pickle=False`` (no object arrays: arrays
  of strings are stored as fixed-width text and given back as object arrays);
- XGBoost models are stored in XGBoost's own UBJSON format, as bytes;
- the lab's own classes (``ranking.*`` only) are stored as their attribute dict and rebuilt with
  ``cls.__new__`` plus that dict: no constructor and no method of the stored data is called,
  except a class's own ``__setstate__`` where it has one (``NeuralReranker`` keeps its Keras
  weights as arrays and rebuilds the graph lazily);
- a class outside ``ranking.*``, a module path outside it, an unknown tag or another format
  version is refused with :class:`ArchiveError`, before anything of the stored data is built.

Shared objects are stored once and come back shared (``{"$t": "ref"}``), so e.g. stage 2's copy
of the stage-1 lists is the same object as stage 1's after loading, as it was before saving.
"""

from __future__ import annotations

import dataclasses
import importlib
import io
import json
import os
import tempfile
import zipfile
from collections import OrderedDict
from typing import Any

import numpy as np
import pandas as pd

FORMAT = "ranking-lab-archive/1"
DOC = "__document__"
_OWN = "ranking"
_XGB = ("XGBRegressor", "XGBClassifier", "XGBRanker")


class ArchiveError(ValueError):
    """The bytes are not an archive this version of the lab wrote, or an object cannot be stored."""


# ---------------------------------------------------------------------------------------------- writing
def dumps(obj: Any) -> bytes:
    """The archive of ``obj`` as bytes (see the module docstring for what can be stored)."""
    enc = _Encoder()
    doc = {"format": FORMAT, "root": enc.encode(obj, "root")}
    text = json.dumps(doc, separators=(",", ":"), allow_nan=True).encode("utf-8")
    arrays = {DOC: np.frombuffer(text, np.uint8), **enc.arrays}
    buf = io.BytesIO()
    np.savez(buf, allow_pickle=False, **arrays)
    return buf.getvalue()


class _Encoder:
    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self.seen: dict[int, int] = {}  # id(obj) → reference number
        self.keep: list[Any] = []  # keeps encoded objects alive, so ids are not reused meanwhile

    def encode(self, o: Any, path: str) -> Any:
        if o is None or isinstance(o, bool | str):
            return o
        if isinstance(o, int | float) and type(o) in (int, float):
            return o
        if isinstance(o, np.generic):
            return {"$t": "scalar", "dtype": _dtype_name(o.dtype, path), "v": o.item()}
        ref = self.seen.get(id(o))
        if ref is not None:
            return {"$t": "ref", "id": ref}
        n = len(self.keep)
        self.seen[id(o)] = n
        self.keep.append(o)
        out = self._encode_new(o, path)
        out["id"] = n
        return out

    def _encode_new(self, o: Any, path: str) -> dict:
        if isinstance(o, np.ndarray):
            return {"$t": "array", **self._array(o, path)}
        if isinstance(o, list):
            return {"$t": "list", "v": [self.encode(x, f"{path}[{i}]") for i, x in enumerate(o)]}
        if isinstance(o, tuple) and type(o) is tuple:
            return {"$t": "tuple", "v": [self.encode(x, f"{path}[{i}]") for i, x in enumerate(o)]}
        if isinstance(o, frozenset | set):
            items = sorted(o, key=repr)
            return {"$t": type(o).__name__, "v": [self.encode(x, f"{path}{{}}") for x in items]}
        if type(o) in (dict, OrderedDict):
            keys = [self.encode(k, f"{path} key") for k in o]
            vals = [self.encode(v, f"{path}[{k!r}]") for k, v in o.items()]
            return {"$t": "dict", "k": keys, "v": vals}
        if isinstance(o, pd.Series):
            return {"$t": "series", "values": self.encode(o.to_numpy(), f"{path}.values"),
                    "index": self.encode(_plain(o.index.to_numpy()), f"{path}.index"),
                    "name": self.encode(o.name, f"{path}.name")}
        if isinstance(o, pd.DataFrame):
            cols = list(o.columns)
            return {"$t": "frame", "columns": self.encode(cols, f"{path}.columns"),
                    "data": [self.encode(_plain(o[c].to_numpy()), f"{path}[{c!r}]") for c in cols],
                    "index": self.encode(_plain(o.index.to_numpy()), f"{path}.index")}
        cls = type(o)
        if cls.__module__.startswith("xgboost") and cls.__name__ in _XGB:
            return {"$t": "xgboost", "cls": cls.__name__, "model": self._blob(_xgb_bytes(o)),
                    "evals": self.encode(_xgb_evals(o), f"{path}.evals_result")}
        if cls.__module__ == _OWN or cls.__module__.startswith(_OWN + "."):
            if getattr(cls, "__slots__", None) and not hasattr(o, "__dict__"):
                raise ArchiveError(f"{path}: {cls.__qualname__} has __slots__ and cannot be stored")
            own_state = "__getstate__" in vars(cls)
            state = o.__getstate__() if own_state else dict(vars(o))
            if not isinstance(state, dict):
                raise ArchiveError(f"{path}: {cls.__qualname__}.__getstate__ must return a dict")
            return {"$t": "object", "cls": f"{cls.__module__}:{cls.__qualname__}",
                    "state": self.encode(state, f"{path}.state")}
        raise ArchiveError(f"{path}: a {cls.__module__}.{cls.__qualname__} cannot be stored in a run "
                           "(only the lab's own classes, arrays, XGBoost models and plain data)")

    def _array(self, a: np.ndarray, path: str) -> dict:
        kind = a.dtype.kind
        as_object = kind == "O"
        if as_object:
            if not all(isinstance(x, str) for x in a.ravel().tolist()):
                raise ArchiveError(f"{path}: an array of Python objects that are not all text cannot be stored")
            a = a.astype(str) if a.size else np.empty(a.shape, "U1")
        elif kind not in "biufcUSMm":
            raise ArchiveError(f"{path}: arrays of dtype {a.dtype} cannot be stored")
        return {"key": self._blob(a), "object": as_object}

    def _blob(self, a: np.ndarray) -> str:
        key = f"a{len(self.arrays)}"
        self.arrays[key] = np.ascontiguousarray(a)
        return key


def _plain(a: np.ndarray) -> np.ndarray:
    """An index or column as a numpy array storable here (pandas' string arrays become object text)."""
    a = np.asarray(a)
    return a.astype(object) if a.dtype.kind == "O" else a


def _dtype_name(dtype: np.dtype, path: str) -> str:
    if dtype.kind not in "biufc":
        raise ArchiveError(f"{path}: a numpy scalar of dtype {dtype} cannot be stored")
    return dtype.str


def _xgb_bytes(model: Any) -> np.ndarray:
    # the scikit-learn wrapper writes its own attributes (classes, best iteration) only through save_model
    with tempfile.TemporaryDirectory() as d:
        where = os.path.join(d, "model.ubj")
        model.save_model(where)
        with open(where, "rb") as fh:
            return np.frombuffer(fh.read(), np.uint8)


def _xgb_evals(model: Any) -> dict:
    try:
        found = model.evals_result()
        return {k: {m: [float(x) for x in v] for m, v in metrics.items()} for k, metrics in found.items()}
    except Exception:
        return {}


# ---------------------------------------------------------------------------------------------- reading
def loads(data: bytes) -> Any:
    """The object stored by :func:`dumps`; ArchiveError (with a sentence) for anything else."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise ArchiveError(f"not a saved-run archive ({type(exc).__name__})") from None
    try:
        doc = json.loads(arrays.pop(DOC).tobytes().decode("utf-8"))
    except (KeyError, UnicodeDecodeError, ValueError):
        raise ArchiveError("not a saved-run archive (no readable document)") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else None
        raise ArchiveError(f"archive format {found!r} is not {FORMAT!r}")
    try:
        return _Decoder(arrays).decode(doc.get("root"))
    except RecursionError:
        raise ArchiveError("the archive nests too deeply") from None
    except (TypeError, KeyError, IndexError, AttributeError) as exc:
        raise ArchiveError(f"the archive is malformed ({type(exc).__name__}: {exc})") from None


class _Decoder:
    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.arrays = arrays
        self.refs: dict[int, Any] = {}

    def decode(self, d: Any) -> Any:
        if d is None or isinstance(d, bool | int | float | str):
            return d
        if not isinstance(d, dict):
            raise ArchiveError(f"unexpected {type(d).__name__} in the archive's document")
        tag = d.get("$t")
        if tag == "ref":
            if d["id"] not in self.refs:
                raise ArchiveError("the archive refers to an object before it is stored")
            return self.refs[d["id"]]
        build = _TAGS.get(tag)
        if build is None:
            raise ArchiveError(f"unknown entry {tag!r} in the archive")
        return build(self, d)

    def keep(self, d: dict, value: Any) -> Any:
        ident = d.get("id")
        if not isinstance(ident, int) or ident in self.refs:
            raise ArchiveError("the archive's object numbers are inconsistent")
        self.refs[ident] = value
        return value

    def array(self, key: Any) -> np.ndarray:
        if not isinstance(key, str) or key not in self.arrays:
            raise ArchiveError(f"the archive lacks its array {key!r}")
        return self.arrays[key]

    def items(self, d: dict) -> list:
        v = d["v"]
        if not isinstance(v, list):
            raise ArchiveError("a malformed sequence in the archive")
        return [self.decode(x) for x in v]


def _scalar(dec: _Decoder, d: dict) -> Any:
    dtype = np.dtype(d["dtype"])
    if dtype.kind not in "biufc":
        raise ArchiveError(f"a numpy scalar of dtype {dtype} is not allowed")
    return dtype.type(d["v"])


def _array_of(dec: _Decoder, d: dict) -> np.ndarray:
    a = dec.array(d["key"])
    return dec.keep(d, a.astype(object) if d.get("object") else a)


def _list(dec: _Decoder, d: dict) -> list:
    out: list = dec.keep(d, [])
    out.extend(dec.items(d))
    return out


def _dict(dec: _Decoder, d: dict) -> dict:
    out: dict = dec.keep(d, {})
    keys, vals = d["k"], d["v"]
    if not isinstance(keys, list) or not isinstance(vals, list) or len(keys) != len(vals):
        raise ArchiveError("a malformed mapping in the archive")
    for k, v in zip(keys, vals, strict=True):
        key = dec.decode(k)
        try:
            hash(key)
        except TypeError:
            raise ArchiveError("a mapping key in the archive is not hashable") from None
        out[key] = dec.decode(v)
    return out


def _series(dec: _Decoder, d: dict) -> pd.Series:
    return dec.keep(d, pd.Series(dec.decode(d["values"]), index=dec.decode(d["index"]), name=dec.decode(d["name"])))


def _frame(dec: _Decoder, d: dict) -> pd.DataFrame:
    cols = dec.decode(d["columns"])
    data = [dec.decode(x) for x in d["data"]]
    return dec.keep(d, pd.DataFrame(dict(zip(cols, data, strict=True)), index=dec.decode(d["index"])))


def _xgboost(dec: _Decoder, d: dict) -> Any:
    import xgboost as xgb

    name = d["cls"]
    if name not in _XGB:
        raise ArchiveError(f"XGBoost class {name!r} is not allowed")
    model = getattr(xgb, name)()
    model.load_model(bytearray(dec.array(d["model"]).tobytes()))
    evals = dec.decode(d["evals"])
    if evals:
        model.evals_result_ = evals
    return dec.keep(d, model)


def _object(dec: _Decoder, d: dict) -> Any:
    cls = _own_class(d["cls"])
    obj = cls.__new__(cls)
    dec.keep(d, obj)
    state = dec.decode(d["state"])
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise ArchiveError(f"the stored state of {cls.__qualname__} is not a mapping of names")
    if "__setstate__" in vars(cls):
        obj.__setstate__(state)
    else:
        obj.__dict__.update(state)  # frozen dataclasses too: no __setattr__ is involved
    return obj


def _own_class(spec: Any) -> type:
    """The lab's own class named ``module:qualname``; ArchiveError for anything outside ``ranking``."""
    if not isinstance(spec, str) or spec.count(":") != 1:
        raise ArchiveError(f"a malformed class name {spec!r} in the archive")
    module, qualname = spec.split(":")
    if not (module == _OWN or module.startswith(_OWN + ".")) or not all(p.isidentifier() for p in module.split(".")):
        raise ArchiveError(f"class {spec!r} is not one of the lab's own: refused")
    try:
        found: Any = importlib.import_module(module)
        for part in qualname.split("."):
            if not part.isidentifier() or part.startswith("__"):
                raise AttributeError(part)
            found = getattr(found, part)
    except (ImportError, AttributeError):
        raise ArchiveError(f"class {spec!r} does not exist in this version of the lab") from None
    if not isinstance(found, type) or found.__module__ != module or found.__qualname__ != qualname:
        raise ArchiveError(f"{spec!r} is not a class of the lab: refused")
    if dataclasses.is_dataclass(found) and getattr(found, "__slots__", None):
        raise ArchiveError(f"{spec!r} has __slots__ and cannot be rebuilt")
    return found


_TAGS = {
    "scalar": _scalar,
    "array": _array_of,
    "list": _list,
    "tuple": lambda dec, d: dec.keep(d, tuple(dec.items(d))),
    "frozenset": lambda dec, d: dec.keep(d, frozenset(dec.items(d))),
    "set": lambda dec, d: dec.keep(d, set(dec.items(d))),
    "dict": _dict,
    "series": _series,
    "frame": _frame,
    "xgboost": _xgboost,
    "object": _object,
}
