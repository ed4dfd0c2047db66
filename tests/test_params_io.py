"""Parameter files: every format round-trips, and every kind of damage gets one clear error."""

from __future__ import annotations

import io
import json
import os
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradcheck_xor import notebook
from gradcheck_xor.params_io import SUFFIXES, ParamsFileError, load_params, save_params
from gradcheck_xor.strategies import parameters

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
GOOD = {
    "W1": [[0.5, -1.0], [2.0, 0.25]],
    "b1": [[0.1], [-0.2]],
    "W2": [[1.5, -3.0]],
    "b2": [[0.3]],
}


def _examples(n: int) -> settings:
    # tmp_path is shared by a test's examples; each example overwrites its own files.
    return settings(max_examples=n, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _json(tmp_path: Path, doc: object, name: str = "p.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def _bytes(tmp_path: Path, data: bytes, name: str) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _npz(tmp_path: Path, name: str = "p.npz", **arrays: object) -> Path:
    path = tmp_path / name
    with open(path, "wb") as f:
        np.savez(f, **arrays)  # type: ignore[arg-type]
    return path


def _good_arrays() -> dict[str, np.ndarray]:
    return {k: np.array(v) for k, v in GOOD.items()}


class _WritesMarker:
    """A pickle payload: unpickling it calls open(marker, "w"), creating the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.marker, "w"))


# --- round trips ----------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", SUFFIXES)
@_examples(25)
@given(params=parameters(), with_data=st.booleans())
def test_every_format_round_trips_parameters_and_data_exactly(
    tmp_path: Path, suffix: str, params: dict[str, np.ndarray], with_data: bool
) -> None:
    path = tmp_path / f"p{suffix}"
    if with_data:
        params = {
            **params,
            "X": np.array([[0.0, 1.0, 2.5], [1.0, -1.0, 0.5]]),
            "Y": np.array([[0.0, 1.0, 1.0]]),
        }
    save_params(params, path)
    got = load_params(path)
    for key in ("W1", "b1", "W2", "b2", "X", "Y"):
        assert got[key].dtype == np.float64, key
    for key in ("W1", "b1", "W2", "b2"):
        np.testing.assert_array_equal(got[key], params[key])
    if with_data:
        np.testing.assert_array_equal(got["X"], params["X"])
        assert got["Y"].shape == (1, 3), "labels keep the layout they were stored in"
    else:
        np.testing.assert_array_equal(got["X"], notebook.inputs)
        np.testing.assert_array_equal(got["Y"], notebook.outputs)


def test_absent_data_is_the_notebooks_xor_data_in_the_notebooks_shapes(tmp_path: Path) -> None:
    got = load_params(_json(tmp_path, GOOD))
    assert got["X"].shape == (2, 4) and got["Y"].shape == (4,)
    np.testing.assert_array_equal(got["X"], notebook.inputs)
    np.testing.assert_array_equal(got["Y"], notebook.outputs)


def test_flat_biases_and_a_scalar_b2_are_read_in_the_notebooks_shapes(tmp_path: Path) -> None:
    got = load_params(_json(tmp_path, {**GOOD, "b1": [0.1, -0.2], "b2": 0.3}))
    assert got["b1"].shape == (2, 1) and got["b2"].shape == (1, 1)
    np.testing.assert_array_equal(got["b1"], [[0.1], [-0.2]])
    assert got["b2"][0, 0] == 0.3
    assert load_params(_json(tmp_path, {**GOOD, "b2": [0.3]}, "q.json"))["b2"].shape == (1, 1)


def test_nan_and_infinity_are_read_so_that_a_diverged_run_can_be_diagnosed(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps(GOOD).replace("0.3", "NaN").replace("1.5", "Infinity"))
    got = load_params(path)
    assert np.isnan(got["b2"][0, 0]) and got["W2"][0, 0] == np.inf


def test_a_torch_state_dict_under_xornets_names_is_read_as_the_notebooks_names(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    arrays = _good_arrays()
    state = {
        "hidden.weight": torch.tensor(arrays["W1"], dtype=torch.float32),
        "hidden.bias": torch.tensor(arrays["b1"].ravel(), dtype=torch.float32),
        "output.weight": torch.tensor(arrays["W2"], dtype=torch.float32),
        "output.bias": torch.tensor(arrays["b2"].ravel(), dtype=torch.float32),
    }
    path = tmp_path / "xornet.pt"
    torch.save(state, path)
    got = load_params(path)
    for key in ("W1", "b1", "W2", "b2"):
        np.testing.assert_allclose(got[key], arrays[key], rtol=1e-7)
        assert got[key].dtype == np.float64


def test_the_reference_xornet_state_dict_loads_unchanged(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    torch_xor = pytest.importorskip("reference_impls.torch_xor")
    net = torch_xor.XorNet(dtype=torch.float64)
    path = tmp_path / "net.pth"
    torch.save(net.state_dict(), path)
    got = load_params(path)
    np.testing.assert_array_equal(got["W1"], net.hidden.weight.detach().numpy())
    np.testing.assert_array_equal(got["b2"], net.output.bias.detach().numpy().reshape(1, 1))


def test_the_bundled_notebook_final_parameters_are_the_ones_the_notebook_printed() -> None:
    got = load_params(EXAMPLES / "notebook_final.json")
    # Golden values: the notebook's cell In [28] printed these after its 200,000 steps.
    np.testing.assert_array_equal(got["W1"], [[0.08204067, 1.27191402], [0.18302969, 0.29126595]])
    np.testing.assert_array_equal(got["b1"], [[0.00330639], [0.06475702]])
    np.testing.assert_array_equal(got["W2"], [[-5.49039980e-16, 2.51708376e-15]])
    np.testing.assert_array_equal(got["b2"], [[-5.27355937e-16]])
    np.testing.assert_array_equal(got["X"], notebook.inputs)
    np.testing.assert_array_equal(got["Y"], notebook.outputs)


# --- every kind of damage: one table, the exact text ----------------------------------------

KEYS = "keys W1, b1, W2, b2 (optional X, Y)"
JSON_FILE = f"a JSON object with {KEYS}"
NPZ_FILE = f"a NumPy .npz archive (np.savez) with {KEYS}"
ST_FILE = f"a safetensors file with {KEYS}"
PT_FILE = "a state_dict of tensors saved with torch.save, under W1, b1, W2, b2 or XorNet's names"


def _truncated(tmp_path: Path, suffix: str) -> Path:
    whole = tmp_path / f"whole{suffix}"
    save_params(_good_arrays(), whole)
    data = whole.read_bytes()
    return _bytes(tmp_path, data[: len(data) // 2], f"p{suffix}")


def _torch_save(tmp_path: Path, obj: object, name: str = "p.pt") -> Path:
    torch = pytest.importorskip("torch")
    path = tmp_path / name
    torch.save(obj, path)
    return path


def _tensors(**arrays: np.ndarray) -> dict[str, object]:
    import torch

    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}


BAD_FILES: list[tuple[str, Callable[[Path], Path], str]] = [
    (
        "missing",
        lambda t: t / "absent.json",
        "{p}: the file cannot be read (No such file or directory); expected a readable file.",
    ),
    (
        "a directory",
        lambda t: (t / "d.json").mkdir() or t / "d.json",
        "{p}: the file is a directory, not a regular file; expected a regular file.",
    ),
    (
        "unknown suffix",
        lambda t: _bytes(t, b"{}", "p.txt"),
        "{p}: the file has an unknown suffix '.txt'; expected one of .json, .npz, .safetensors, .pt, .pth.",
    ),
    (
        "empty json",
        lambda t: _bytes(t, b"", "p.json"),
        f"{{p}}: the file is empty; expected a .json file with {KEYS}.",
    ),
    (
        "empty npz",
        lambda t: _bytes(t, b"", "p.npz"),
        f"{{p}}: the file is empty; expected a .npz file with {KEYS}.",
    ),
    (
        "truncated json",
        lambda t: _truncated(t, ".json"),
        "{p}: the file is not valid JSON (Expecting ',' delimiter: line 3 column 15 (char 52)); expected "
        + JSON_FILE
        + ".",
    ),
    (
        "json not utf-8",
        lambda t: _bytes(t, b"\xff\xfe{", "p.json"),
        f"{{p}}: the file is not UTF-8 text; expected {JSON_FILE}.",
    ),
    (
        "json list",
        lambda t: _json(t, [1, 2]),
        f"{{p}}: the file holds a JSON list, not an object; expected {JSON_FILE}.",
    ),
    (
        "npz claimed, json inside",
        lambda t: _bytes(t, json.dumps(GOOD).encode(), "p.npz"),
        f"{{p}}: the file is not a zip archive; expected {NPZ_FILE}.",
    ),
    (
        "json claimed, npz inside",
        lambda t: _bytes(t, (_npz(t, **_good_arrays())).read_bytes(), "p.json"),
        f"{{p}}: the file is not UTF-8 text; expected {JSON_FILE}.",
    ),
    (
        "missing key",
        lambda t: _json(t, {k: v for k, v in GOOD.items() if k != "W2"}),
        "{p}: key 'W2' is missing; expected shape (1, 2) in a .json parameter file.",
    ),
    (
        "unknown key",
        lambda t: _json(t, {**GOOD, "W3": [1]}),
        f"{{p}}: key 'W3' is not a known key of a .json parameter file; expected only {KEYS}.",
    ),
    (
        "wrong shape",
        lambda t: _json(t, {**GOOD, "W1": [1, 2, 3]}),
        "{p}: key 'W1' has shape (3,); expected shape (2, 2).",
    ),
    (
        "wrong b2 shape",
        lambda t: _json(t, {**GOOD, "b2": [1, 2]}),
        "{p}: key 'b2' has shape (2,); expected shape (1, 1) or (1,) or a scalar.",
    ),
    (
        "ragged",
        lambda t: _json(t, {**GOOD, "W1": [[1, 2], [3]]}),
        "{p}: key 'W1' is not an array (nested lists of unequal lengths); "
        "expected real numbers in shape (2, 2).",
    ),
    (
        "string",
        lambda t: _json(t, {**GOOD, "b1": [[0.1], ["x"]]}),
        "{p}: key 'b1' holds a string (\"x\"); expected real numbers in shape (2, 1) or (2,).",
    ),
    (
        "null",
        lambda t: _json(t, {**GOOD, "b2": None}),
        "{p}: key 'b2' holds null (null); expected real numbers in shape (1, 1) or (1,) or a scalar.",
    ),
    (
        "boolean",
        lambda t: _json(t, {**GOOD, "W2": [[True, 1.0]]}),
        "{p}: key 'W2' holds a boolean (true); expected real numbers in shape (1, 2).",
    ),
    (
        "object",
        lambda t: _json(t, {**GOOD, "W2": {"a": 1}}),
        "{p}: key 'W2' holds an object ({{\"a\": 1}}); expected real numbers in shape (1, 2).",
    ),
    (
        "huge integer",
        lambda t: _bytes(t, json.dumps(GOOD).replace("0.3", "1" + "0" * 400).encode(), "p.json"),
        "{p}: key 'b2' is not an array (int too large to convert to float); "
        "expected real numbers in shape (1, 1) or (1,) or a scalar.",
    ),
    (
        "X wrong shape",
        lambda t: _json(t, {**GOOD, "X": [[0, 1, 2]]}),
        "{p}: key 'X' has shape (1, 3); expected shape (2, m) with m >= 1.",
    ),
    (
        "Y does not match X",
        lambda t: _json(t, {**GOOD, "Y": [0, 1, 1]}),
        "{p}: key 'Y' has shape (3,); expected shape (4,) or (1, 4) to match X.",
    ),
    (
        "Y missing, X not 4 samples",
        lambda t: _json(t, {**GOOD, "X": [[0, 1], [1, 0]]}),
        "{p}: key 'Y' is missing while X has 2 samples; expected shape (2,) or (1, 2).",
    ),
    (
        "npz truncated",
        lambda t: _truncated(t, ".npz"),
        f"{{p}}: the file is not a readable .npz archive (File is not a zip file); expected {NPZ_FILE}.",
    ),
    (
        "npz object array",
        lambda t: _npz(t, **{**_good_arrays(), "W1": np.array([[1, "a"], [2, 3]], dtype=object)}),
        "{p}: key 'W1' holds a pickled object array, refused; expected a numeric array.",
    ),
    (
        "npz complex",
        lambda t: _npz(t, **{**_good_arrays(), "b1": np.array([[1j], [0]])}),
        "{p}: key 'b1' holds dtype complex128; expected real numbers in shape (2, 1) or (2,).",
    ),
    (
        "npz strings",
        lambda t: _npz(t, **{**_good_arrays(), "b2": np.array([["0.1"]])}),
        "{p}: key 'b2' holds dtype <U3; expected real numbers in shape (1, 1) or (1,) or a scalar.",
    ),
    (
        "npz member not npy",
        lambda t: _zip_with(t, "W1.npy", b"hello"),
        "{p}: key 'W1' is not a .npy array; expected a numeric array.",
    ),
    (
        "npz missing key",
        lambda t: _npz(t, W1=np.eye(2), b1=np.zeros(2), W2=np.ones((1, 2))),
        "{p}: key 'b2' is missing; expected shape (1, 1) or (1,) or a scalar in a .npz parameter file.",
    ),
    (
        "npz default names",
        lambda t: _bytes(t, _savez_bytes(np.eye(2)), "p.npz"),
        f"{{p}}: key 'arr_0' is not a known key of a .npz parameter file; expected only {KEYS}.",
    ),
    (
        "safetensors garbage",
        lambda t: _bytes(t, b"not a safetensors file", "p.safetensors"),
        "{p}: the file is not a readable safetensors file "
        f"(declares a header of 7021991845529153390 bytes in a file of 22); expected {ST_FILE}.",
    ),
    (
        "safetensors truncated",
        lambda t: _truncated(t, ".safetensors"),
        "{p}: the file is not a readable safetensors file "
        f"(declares a header of 232 bytes in a file of 156); expected {ST_FILE}.",
    ),
    (
        "safetensors wrong shape",
        lambda t: _safetensors(t, W2=np.ones((2, 1))),
        "{p}: key 'W2' has shape (2, 1); expected shape (1, 2).",
    ),
    (
        "pt garbage",
        lambda t: _bytes(t, b"garbage", "p.pt"),
        f"{{p}}: the file is not a PyTorch zip archive (torch.save's format), refused; expected {PT_FILE}.",
    ),
    (
        "pt not a dict",
        lambda t: _torch_save(t, [1, 2]),
        f"{{p}}: the file holds a list, not a state_dict; expected {PT_FILE}.",
    ),
    (
        "pt value not a tensor",
        lambda t: _torch_save(t, {**_tensors(**_good_arrays()), "b2": 0.5}),
        "{p}: key 'b2' holds a float; expected a tensor.",
    ),
    (
        "pt bool tensor",
        lambda t: _torch_save(
            t, {**_tensors(**_good_arrays()), "W1": _tensors(a=np.eye(2, dtype=bool))["a"]}
        ),
        "{p}: key 'W1' holds dtype torch.bool; expected a real floating or integer tensor.",
    ),
    (
        "pt mixed names",
        lambda t: _torch_save(t, {**_tensors(**_good_arrays()), "hidden.weight": _tensors(a=np.eye(2))["a"]}),
        "{p}: key 'W1' is not a key of XorNet's state_dict; "
        "expected only hidden.weight, hidden.bias, output.weight, output.bias (optional X, Y).",
    ),
]


def _savez_bytes(*arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, *arrays)  # unnamed: stored as arr_0, arr_1, ...
    return buffer.getvalue()


def _zip_with(tmp_path: Path, member: str, data: bytes) -> Path:
    path = tmp_path / "p.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(member, data)
    return path


def _safetensors(tmp_path: Path, **override: np.ndarray) -> Path:
    import safetensors.numpy

    path = tmp_path / "p.safetensors"
    safetensors.numpy.save_file({**_good_arrays(), **override}, str(path))
    return path


@pytest.mark.parametrize(("build", "message"), [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES])
def test_each_kind_of_damage_raises_one_error_naming_the_file_the_key_and_the_expectation(
    tmp_path: Path, build: Callable[[Path], Path], message: str
) -> None:
    path = build(tmp_path)
    with pytest.raises(ParamsFileError) as info:
        load_params(path)
    assert str(info.value) == message.format(p=path)
    assert "\n" not in str(info.value)
    assert info.value.path == str(path)


def test_the_error_keeps_the_key_and_the_expectation_as_attributes(tmp_path: Path) -> None:
    with pytest.raises(ParamsFileError) as info:
        load_params(_json(tmp_path, {**GOOD, "W1": [1, 2, 3]}))
    assert (info.value.key, info.value.expected) == ("W1", "shape (2, 2)")
    assert isinstance(info.value, ValueError)


def test_saving_checks_shapes_and_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ParamsFileError, match=r"key 'W1' has shape \(3,\); expected shape \(2, 2\)"):
        save_params({**_good_arrays(), "W1": np.zeros(3)}, tmp_path / "p.json")
    assert not (tmp_path / "p.json").exists()


# --- nothing is ever unpickled --------------------------------------------------------------


def test_the_marker_payload_is_live_when_unpickled_without_protection(tmp_path: Path) -> None:
    # The control for the two tests below: this payload really does write its marker.
    marker = tmp_path / "marker"
    pickle.loads(pickle.dumps(_WritesMarker(marker)))
    assert marker.exists()


def test_a_pickled_payload_in_an_npz_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    payload = np.empty((2, 2), dtype=object)
    payload[...] = _WritesMarker(marker)
    path = _npz(tmp_path, **{**_good_arrays(), "W1": payload})
    with pytest.raises(ParamsFileError, match="key 'W1' holds a pickled object array, refused"):
        load_params(path)
    raw = _bytes(tmp_path, pickle.dumps(_WritesMarker(marker)), "raw.npz")
    with pytest.raises(ParamsFileError, match="the file is not a zip archive"):
        load_params(raw)
    assert not marker.exists()


def test_a_pickled_payload_in_a_pt_file_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    path = _torch_save(tmp_path, {**_tensors(**_good_arrays()), "W1": _WritesMarker(marker)})
    with pytest.raises(ParamsFileError) as info:
        load_params(path)
    assert str(info.value) == (
        f"{path}: the file holds a pickled object (io.open), refused; expected {PT_FILE}."
    )
    raw = _bytes(tmp_path, pickle.dumps({"W1": _WritesMarker(marker)}), "raw.pth")
    with pytest.raises(ParamsFileError, match="refused"):
        load_params(raw)
    assert not marker.exists()


# --- arbitrary input: a result or the named error, never anything else ----------------------


def _json_containers(inner: st.SearchStrategy) -> st.SearchStrategy:
    return st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=4)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    _json_containers,
    max_leaves=20,
)
# Arbitrary JSON, and valid documents with some keys replaced, added or dropped.
_json_documents = st.one_of(
    _json_values,
    st.builds(
        lambda override, drop: {k: v for k, v in {**GOOD, **override}.items() if k not in drop},
        st.dictionaries(st.sampled_from(["W1", "b1", "W2", "b2", "X", "Y", "Z"]), _json_values, max_size=3),
        st.sets(st.sampled_from(["W1", "b1", "W2", "b2"]), max_size=1),
    ),
)


def _load_or_error(path: Path) -> None:
    try:
        got = load_params(path)
    except ParamsFileError as exc:
        assert str(exc).startswith(f"{path}: ") and "\n" not in str(exc)
    else:
        assert set(got) == {"W1", "b1", "W2", "b2", "X", "Y"}
        assert all(v.dtype == np.float64 for v in got.values())


@_examples(150)
@given(doc=_json_documents)
def test_any_json_document_gives_parameters_or_the_named_error(tmp_path: Path, doc: object) -> None:
    _load_or_error(_bytes(tmp_path, json.dumps(doc).encode(), "p.json"))


@pytest.mark.parametrize("suffix", SUFFIXES)
@_examples(40)
@given(data=st.binary(max_size=300))
def test_any_bytes_give_parameters_or_the_named_error(tmp_path: Path, suffix: str, data: bytes) -> None:
    _load_or_error(_bytes(tmp_path, data, f"p{suffix}"))


@pytest.mark.parametrize("suffix", SUFFIXES)
@_examples(40)
@given(
    edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=4),
    cut=st.floats(0.2, 1),
)
def test_damaged_valid_files_give_parameters_or_the_named_error(
    tmp_path: Path, suffix: str, edits: list[tuple[float, int]], cut: float
) -> None:
    whole = tmp_path / f"whole{suffix}"
    save_params(_good_arrays(), whole)
    data = bytearray(whole.read_bytes())
    for where, value in edits:
        data[int(where * len(data))] = value
    _load_or_error(_bytes(tmp_path, bytes(data[: max(1, int(cut * len(data)))]), f"p{suffix}"))


def test_no_format_reader_imports_torch_unless_the_file_is_a_torch_file(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "p.json"
    save_params(_good_arrays(), path)
    code = (
        "import sys; from gradcheck_xor.params_io import load_params\n"
        f"load_params({str(path)!r})\n"
        "print(sorted(m for m in ('torch', 'jax', 'safetensors', 'tqdm', 'hypothesis') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "[]"
