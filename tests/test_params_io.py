"""Parameter files: every format round-trips any network, the network a file describes is
checked as it loads, and every kind of damage gets one clear error."""

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
from hypothesis import given
from hypothesis import strategies as st
from params_files import examples, fitting_layouts

from gradcheck_xor import model, notebook
from gradcheck_xor import network as nw
from gradcheck_xor.params_io import (
    SUFFIXES,
    ParamsFileError,
    load_data,
    load_network,
    load_params,
    save_data,
    save_params,
)
from gradcheck_xor.strategies import datasets, networks, parameters

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
GOOD = {
    "W1": [[0.5, -1.0], [2.0, 0.25]],
    "b1": [[0.1], [-0.2]],
    "W2": [[1.5, -3.0]],
    "b2": [[0.3]],
}
XOR_X, XOR_Y = model.xor_data()
COLUMNS = "(columns layout: W_l is (n_l, n_{{l-1}}))."  # formatted with the path: braces doubled


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


def _deep(
    rng: np.random.Generator, widths: tuple[int, ...], layout: str = "columns"
) -> dict[str, np.ndarray]:
    net = nw.Network.from_widths(widths, layout=layout)
    return {key: rng.standard_normal(shape) for key, shape in net.param_shapes.items()}


class _WritesMarker:
    """A pickle payload: unpickling it calls open(marker, "w"), creating the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.marker, "w"))


# --- round trips ----------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", SUFFIXES)
@examples(25)
@given(net=networks(min_hidden_layers=0, max_hidden_layers=2), with_data=st.booleans(), data=st.data())
def test_every_format_round_trips_any_network_and_its_data_exactly(
    tmp_path: Path, suffix: str, net: nw.Network, with_data: bool, data: st.DataObject
) -> None:
    X, Y = data.draw(datasets(network=net), label="data")
    params = data.draw(parameters(X=X, network=net), label="params")
    given_arrays = {**params, "X": X, "Y": Y} if with_data else params
    path = tmp_path / f"p{suffix}"
    save_params(given_arrays, path)
    got = load_params(path)
    for key, value in given_arrays.items():
        assert got[key].dtype == np.float64, key
        assert got[key].shape == np.shape(value), f"{key} keeps the shape it was saved in"
        np.testing.assert_array_equal(got[key], value, err_msg=key)
    # The file's shapes describe the network they were drawn for (in either layout where
    # nothing tells them apart: square weights, biases that fit both, no data).
    loaded = {key: got[key] for key in params}
    assert net.layout in fitting_layouts(loaded, got.get("X"))
    assert nw.describe(loaded, got.get("X"), layout=net.layout).widths == net.widths


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_data_file_round_trips_in_every_format(tmp_path: Path, suffix: str) -> None:
    X, Y = np.arange(12.0).reshape(6, 2), np.array([0, 2, 1, 1, 0, 2])
    save_data(X, Y, tmp_path / f"d{suffix}")
    got_X, got_Y = load_data(tmp_path / f"d{suffix}")
    np.testing.assert_array_equal(got_X, X)
    np.testing.assert_array_equal(got_Y, Y)
    assert got_X.dtype == got_Y.dtype == np.float64


def test_without_data_a_two_input_network_gets_the_notebooks_xor_data_in_its_layout(tmp_path: Path) -> None:
    got = load_params(_json(tmp_path, GOOD))
    assert got["X"].shape == (2, 4) and got["Y"].shape == (4,)
    np.testing.assert_array_equal(got["X"], notebook.inputs)
    np.testing.assert_array_equal(got["Y"], notebook.outputs)
    rng = np.random.default_rng(0)
    rows = load_params(_json(tmp_path, {k: v.tolist() for k, v in _deep(rng, (2, 5, 3, 1), "rows").items()}))
    np.testing.assert_array_equal(rows["X"], notebook.inputs.T)
    np.testing.assert_array_equal(rows["Y"], notebook.outputs)


def test_without_data_another_network_gets_none_and_so_does_one_whose_layout_is_open(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    three_inputs = _npz(tmp_path, "three.npz", **_deep(rng, (3, 4, 1)))
    assert set(load_params(three_inputs)) == {"W1", "b1", "W2", "b2"}
    # Square weights and 1-D biases fit both layouts: the XOR inputs' orientation is not known.
    square = {"W1": rng.standard_normal((2, 2)), "b1": np.zeros(2), "W2": rng.standard_normal((2, 2))}
    assert set(load_params(_npz(tmp_path, "square.npz", **square))) == {"W1", "b1", "W2"}


def test_flat_and_scalar_biases_keep_their_shapes(tmp_path: Path) -> None:
    got = load_params(_json(tmp_path, {**GOOD, "b1": [0.1, -0.2], "b2": 0.3}))
    assert got["b1"].shape == (2,) and got["b2"].shape == ()
    np.testing.assert_array_equal(got["b1"], [0.1, -0.2])
    assert got["b2"] == 0.3


def test_biases_may_be_left_out_and_weights_keyed_in_lower_case(tmp_path: Path) -> None:
    doc = {"w1": GOOD["W1"], "w2": GOOD["W2"], "b2": GOOD["b2"]}
    net, params, X, _ = load_network(_json(tmp_path, doc))
    assert net.names == (("w1", None), ("w2", "b2"))
    assert set(params) == {"w1", "w2", "b2"}
    np.testing.assert_array_equal(X, notebook.inputs)


def test_nan_and_infinity_are_read_so_that_a_diverged_run_can_be_diagnosed(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps(GOOD).replace("0.3", "NaN").replace("1.5", "Infinity"))
    got = load_params(path)
    assert np.isnan(got["b2"][0, 0]) and got["W2"][0, 0] == np.inf


def test_the_bundled_notebook_final_parameters_are_the_ones_the_notebook_printed() -> None:
    got = load_params(EXAMPLES / "notebook_final.json")
    # Golden values: the notebook's cell In [28] printed these after its 200,000 steps.
    np.testing.assert_array_equal(got["W1"], [[0.08204067, 1.27191402], [0.18302969, 0.29126595]])
    np.testing.assert_array_equal(got["b1"], [[0.00330639], [0.06475702]])
    np.testing.assert_array_equal(got["W2"], [[-5.49039980e-16, 2.51708376e-15]])
    np.testing.assert_array_equal(got["b2"], [[-5.27355937e-16]])
    np.testing.assert_array_equal(got["X"], notebook.inputs)
    np.testing.assert_array_equal(got["Y"], notebook.outputs)


# --- PyTorch state dicts ----------------------------------------------------------------------


def test_a_state_dict_under_xornets_names_is_read_as_the_notebooks_names(tmp_path: Path) -> None:
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
        assert got[key].shape == arrays[key].shape and got[key].dtype == np.float64
        np.testing.assert_allclose(got[key], arrays[key], rtol=1e-7)


@pytest.mark.parametrize("layout", nw.LAYOUTS)
def test_the_reference_mlps_state_dict_loads_as_the_same_network_in_the_columns_layout(
    torch_xor, tmp_path: Path, layout: str
) -> None:
    import torch

    net = nw.Network.from_widths((3, 5, 4, 1), hidden="tanh", layout=layout)
    params = _deep(np.random.default_rng(2), net.widths, layout)
    module = torch_xor.make_net(params, net=net)
    path = tmp_path / "mlp.pth"
    torch.save(module.state_dict(), path)
    got_net, got, _, _ = load_network(path, hidden="tanh", data=_data_file(tmp_path, 3))
    assert got_net.widths == net.widths and got_net.layout == "columns"
    for (w, b), n in zip(net.names, net.widths[1:], strict=True):
        np.testing.assert_array_equal(got[w], params[w] if layout == "columns" else params[w].T)
        np.testing.assert_array_equal(got[b], params[b].reshape(n, 1))


def _data_file(tmp_path: Path, n_in: int, m: int = 5) -> Path:
    path = tmp_path / "data.json"
    save_data(np.linspace(-1, 1, n_in * m).reshape(n_in, m), np.arange(m) % 2, path)
    return path


# --- the network a file describes, and its data ------------------------------------------------


def test_load_network_describes_the_file_with_the_options_its_shapes_cannot_say(tmp_path: Path) -> None:
    params = _deep(np.random.default_rng(3), (4, 6, 3), "rows")
    path = _npz(tmp_path, **params)
    data = tmp_path / "classes.npz"
    save_data(np.ones((7, 4)), np.array([0, 1, 2, 2, 1, 0, 1]), data)
    net, got, X, Y = load_network(path, data=data, hidden="leaky_relu", output="softmax")
    assert str(net) == "4-6-3 network (leaky_relu hidden, softmax output, cross-entropy loss, rows layout)"
    assert set(got) == set(params) and X.shape == (7, 4) and Y.shape == (7,)


def test_a_data_file_wins_over_the_files_own_data(tmp_path: Path) -> None:
    path = _json(tmp_path, {**GOOD, "X": XOR_X.tolist(), "Y": XOR_Y.tolist()})
    data = tmp_path / "and.json"
    save_data(XOR_X, [0.0, 0.0, 0.0, 1.0], data)
    Y = load_network(path, data=data)[3]
    np.testing.assert_array_equal(Y, [0.0, 0.0, 0.0, 1.0])


def test_the_layout_option_settles_a_file_both_layouts_fit(tmp_path: Path) -> None:
    square = {"W1": [[1.0, 2.0], [3.0, 4.0]], "W2": [[1.0, -1.0], [0.5, 2.0]]}
    path = _json(tmp_path, square)
    with pytest.raises(ParamsFileError) as info:
        load_network(path)
    # Python's option and the command line's, since a command prints the message as it is.
    assert str(info.value) == (
        f"{path}: layout is ambiguous: W1 (2, 2) fit both layouts; expected layout='columns' "
        "(X is (n_in, m)) or 'rows' (X is (m, n_in)); --layout on the command line."
    )
    net, _, X, Y = load_network(path, layout="rows", output="softmax")
    assert net.layout == "rows" and X.shape == (4, 2) and Y.shape == (4,)


_UNUSABLE_NETWORKS: list[tuple[str, Callable[[Path], dict[str, object]], str]] = [
    (
        "no data for three inputs",
        lambda t: {"path": _npz(t, **_deep(np.random.default_rng(4), (3, 2, 1)))},
        "{p}: the file holds no data for the 3-input network; "
        "expected X and Y in it or in a data file (--data).",
    ),
    (
        "xor labels for two sigmoid outputs",
        lambda t: {"path": _npz(t, W1=np.ones((3, 2)), b1=np.zeros((3, 1)), W2=np.ones((2, 3)))},
        "{p}: the file holds no data, and the XOR data's labels (4,) do not fit the 2-3-2 network "
        "(relu hidden, sigmoid output, bce loss, columns layout); "
        "expected X and Y in it or in a data file (--data).",
    ),
    (
        "data file's X too narrow",
        lambda t: {"path": _json(t, GOOD), "data": _data_file(t, 3)},
        "{d}: key 'X' has shape (3, 5); expected (2, m) for W1 " + COLUMNS,
    ),
    (
        "data file's classes for other samples",
        lambda t: {
            "path": _npz(t, **_deep(np.random.default_rng(5), (2, 3, 3))),
            "data": _json(t, {"X": XOR_X.tolist(), "Y": [0, 1, 2]}, "d.json"),
            "output": "softmax",
        },
        "{d}: key 'Y' has shape (3,); expected (3, 4) or (4,) classes for 4 samples and 3 outputs "
        "(columns layout).",
    ),
    (
        "loss for another output",
        lambda t: {"path": _json(t, GOOD), "output": "softmax", "loss": "bce"},
        "{p}: loss='bce' does not go with output='softmax'; expected cross-entropy, cross-entropy-sum, "
        "mse, half-mse, sse, half-sse, sse-per-sample, half-sse-per-sample.",
    ),
]


@pytest.mark.parametrize(
    ("build", "message"), [c[1:] for c in _UNUSABLE_NETWORKS], ids=[c[0] for c in _UNUSABLE_NETWORKS]
)
def test_load_network_names_the_file_at_fault(tmp_path: Path, build: Callable, message: str) -> None:
    options = build(tmp_path)
    with pytest.raises(ParamsFileError) as info:
        load_network(**options)
    assert str(info.value) == message.format(p=options["path"], d=options.get("data"))


@given(labels=st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=4, max_size=4))
@examples(30)
def test_load_network_gives_a_softmaxs_classes_as_stored_whatever_they_hold(
    tmp_path: Path, labels: list[float]
) -> None:
    # A label that is no class (3.0 of 3 outputs, 0.5, NaN) is diagnose's label-range finding,
    # which it can only report on a file that loads.
    path = _npz(tmp_path, **_deep(np.random.default_rng(5), (2, 3, 3)), X=XOR_X, Y=np.array(labels))
    net, _, _, Y = load_network(path, output="softmax")
    assert net.output == "softmax"
    np.testing.assert_array_equal(Y, labels)


# --- networks that are not: one line naming the key, the shape got and the shape expected ------

_BAD_NETWORKS: list[tuple[str, dict[str, object], str]] = [
    (
        "layers that do not chain",
        {"W1": np.zeros((4, 3)), "W2": np.zeros((1, 5))},
        "{p}: key 'W2' has shape (1, 5); expected (1, 4) to follow W1 (4, 3) " + COLUMNS,
    ),
    (
        "a bias of the wrong width",
        {"W1": np.zeros((4, 3)), "b1": np.zeros(5), "W2": np.zeros((1, 4))},
        "{p}: key 'b1' has shape (5,); expected (4, 1) or (4,) or (1, 4) for the 4 units of W1.",
    ),
    (
        "a gap in the numbering",
        {"W1": np.zeros((4, 3)), "W2": np.zeros((2, 4)), "W4": np.zeros((1, 2))},
        "{p}: key 'W3' is missing (got W1, W2, W4); expected layers numbered 1 to L without gaps.",
    ),
    (
        "a bias without its weight",
        {"W1": np.zeros((4, 3)), "b2": np.zeros(1)},
        "{p}: key 'b2' has no weight W2; expected biases b1 to b1 only.",
    ),
    (
        "a weight that is not a matrix",
        {"W1": np.zeros(3)},
        "{p}: key 'W1' has shape (3,); expected a 2-D array with at least one unit.",
    ),
    (
        "X that fits no first layer",
        {**GOOD, "X": np.zeros((3, 4)), "Y": np.zeros(4)},
        "{p}: key 'X' has shape (3, 4); expected (2, m) for W1 " + COLUMNS,
    ),
    (
        "Y for other samples",
        {**GOOD, "X": np.zeros((2, 4)), "Y": np.zeros(3)},
        "{p}: key 'Y' has shape (3,); expected (1, 4) or (4,) for the samples of X.",
    ),
    (
        "X without Y",
        {**GOOD, "X": np.zeros((2, 3))},
        "{p}: key 'Y' is missing while the file holds X; expected X and Y together.",
    ),
    (
        "no weights",
        {"X": np.zeros((2, 3)), "Y": np.zeros(3)},
        "{p}: the file holds no weights; expected keys W1, b1, ..., WL, bL (optional X, Y).",
    ),
]


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize(
    ("arrays", "message"), [c[1:] for c in _BAD_NETWORKS], ids=[c[0] for c in _BAD_NETWORKS]
)
def test_a_file_that_describes_no_network_is_refused_in_one_line(
    tmp_path: Path, suffix: str, arrays: dict[str, object], message: str
) -> None:
    if suffix in (".pt", ".pth"):
        torch = pytest.importorskip("torch")
        path = tmp_path / f"p{suffix}"
        torch.save({k: torch.tensor(np.asarray(v, dtype=np.float64)) for k, v in arrays.items()}, path)
    else:
        path = tmp_path / "whole.npz"
        with open(path, "wb") as f:
            np.savez(f, **{k: np.asarray(v) for k, v in arrays.items()})
        if suffix != ".npz":  # the same arrays in the other formats, bypassing save's own check
            path = _same_arrays(tmp_path, load_arrays_unchecked(path), suffix)
    with pytest.raises(ParamsFileError) as info:
        load_params(path)
    assert str(info.value) == message.format(p=path)
    with pytest.raises(ParamsFileError) as info:
        save_params(arrays, tmp_path / f"out{suffix}")
    assert str(info.value) == message.format(p=tmp_path / f"out{suffix}")
    assert not (tmp_path / f"out{suffix}").exists()


def load_arrays_unchecked(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as archive:
        return {key: archive[key] for key in archive.files}


def _same_arrays(tmp_path: Path, arrays: dict[str, np.ndarray], suffix: str) -> Path:
    path = tmp_path / f"p{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps({k: v.tolist() for k, v in arrays.items()}))
    else:
        import safetensors.numpy

        safetensors.numpy.save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(path))
    return path


# --- every kind of damage: one table, the exact text ----------------------------------------

KEYS = "keys W1, b1, ..., WL, bL (optional X, Y)"
JSON_FILE = f"a JSON object with {KEYS}"
NPZ_FILE = f"a NumPy .npz archive (np.savez) with {KEYS}"
ST_FILE = f"a safetensors file with {KEYS}"
PT_FILE = "a state_dict of tensors saved with torch.save (keys W1, b1, ... or layers.<i>.weight, .bias)"


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
        "unknown key",
        lambda t: _json(t, {**GOOD, "Z1": [1]}),
        f"{{p}}: key 'Z1' is not a known key of a .json parameter file; expected only {KEYS}.",
    ),
    (
        "ragged",
        lambda t: _json(t, {**GOOD, "W1": [[1, 2], [3]]}),
        "{p}: key 'W1' is not an array (nested lists of unequal lengths); expected real numbers.",
    ),
    (
        "string",
        lambda t: _json(t, {**GOOD, "b1": [[0.1], ["x"]]}),
        "{p}: key 'b1' holds a string (\"x\"); expected real numbers.",
    ),
    (
        "null",
        lambda t: _json(t, {**GOOD, "b2": None}),
        "{p}: key 'b2' holds null (null); expected real numbers.",
    ),
    (
        "boolean",
        lambda t: _json(t, {**GOOD, "W2": [[True, 1.0]]}),
        "{p}: key 'W2' holds a boolean (true); expected real numbers.",
    ),
    (
        "object",
        lambda t: _json(t, {**GOOD, "W2": {"a": 1}}),
        "{p}: key 'W2' holds an object ({{\"a\": 1}}); expected real numbers.",
    ),
    (
        "huge integer",
        lambda t: _bytes(t, json.dumps(GOOD).replace("0.3", "1" + "0" * 400).encode(), "p.json"),
        "{p}: key 'b2' is not an array (int too large to convert to float); expected real numbers.",
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
        "{p}: key 'b1' holds dtype complex128; expected real numbers.",
    ),
    (
        "npz strings",
        lambda t: _npz(t, **{**_good_arrays(), "b2": np.array([["0.1"]])}),
        "{p}: key 'b2' holds dtype <U3; expected real numbers.",
    ),
    (
        "npz member not npy",
        lambda t: _zip_with(t, "W1.npy", b"hello"),
        "{p}: key 'W1' is not a .npy array; expected a numeric array.",
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
        "safetensors layers that do not chain",
        lambda t: _safetensors(t, W2=np.ones((3, 1))),
        "{p}: key 'W2' has shape (3, 1); expected (3, 2) to follow W1 (2, 2) " + COLUMNS,
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
        lambda t: _torch_save(
            t, {**_tensors(**_good_arrays()), "layers.0.weight": _tensors(a=np.eye(2))["a"]}
        ),
        "{p}: key 'W1' is not a name of a torch_xor module's state_dict; "
        "expected only layers.0.weight, layers.0.bias, ... (or XorNet's hidden.*, output.*), X, Y.",
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
        load_params(_json(tmp_path, {**GOOD, "W2": [[1.0, 2.0, 3.0]]}))
    assert info.value.key == "W2"
    assert info.value.expected == "(1, 2) to follow W1 (2, 2) (columns layout: W_l is (n_l, n_{l-1}))"
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"X": np.zeros((2, 3))}, "{p}: key 'Y' is missing; expected keys X and Y in a data file."),
        (
            {"X": np.zeros((2, 3)), "Y": np.zeros(3), "W1": np.eye(2)},
            "{p}: key 'W1' is not a known key of a .npz data file; expected only keys X and Y.",
        ),
    ],
    ids=["without Y", "with a weight"],
)
def test_a_data_file_holds_x_and_y_and_nothing_else(tmp_path: Path, arrays: dict, message: str) -> None:
    path = _npz(tmp_path, **arrays)
    with pytest.raises(ParamsFileError) as info:
        load_data(path)
    assert str(info.value) == message.format(p=path)


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
        st.dictionaries(
            st.sampled_from(["W1", "b1", "W2", "b2", "W3", "w1", "X", "Y", "Z"]), _json_values, max_size=3
        ),
        st.sets(st.sampled_from(["W1", "b1", "W2", "b2"]), max_size=2),
    ),
)


def _load_or_error(path: Path) -> None:
    try:
        got = load_params(path)
    except ParamsFileError as exc:
        assert str(exc).startswith(f"{path}: ") and "\n" not in str(exc) and len(str(exc)) <= 300
    else:
        assert all(v.dtype == np.float64 for v in got.values())
        params = {k: v for k, v in got.items() if k not in ("X", "Y")}
        assert fitting_layouts(params, got.get("X"))


@examples(150)
@given(doc=_json_documents)
def test_any_json_document_gives_a_network_or_the_named_error(tmp_path: Path, doc: object) -> None:
    _load_or_error(_bytes(tmp_path, json.dumps(doc).encode(), "p.json"))


@pytest.mark.parametrize("suffix", SUFFIXES)
@examples(40)
@given(data=st.binary(max_size=300))
def test_any_bytes_give_a_network_or_the_named_error(tmp_path: Path, suffix: str, data: bytes) -> None:
    _load_or_error(_bytes(tmp_path, data, f"p{suffix}"))


@pytest.mark.parametrize("suffix", SUFFIXES)
@examples(40)
@given(
    edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=4),
    cut=st.floats(0.2, 1),
)
def test_damaged_valid_files_give_a_network_or_the_named_error(
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
        "import sys; from gradcheck_xor.params_io import load_network\n"
        f"load_network({str(path)!r})\n"
        "print(sorted(m for m in ('torch', 'jax', 'safetensors', 'tqdm', 'hypothesis') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "[]"
