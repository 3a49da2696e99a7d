"""Input files a user hands the CLI get the same checks as the node's requests: duplicate keys and
values beyond float32 are refused with a message naming the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from zkinfer.core.formats import inputs
from zkinfer.core.support.errors import InputError
from zkinfer.core.zkp.onnx_model import TensorSpec

SPECS = (TensorSpec("input", (1, 4)),)


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ('{"input_data": [[1, 2, 3, 4]], "input_data": [[5, 6, 7, 8]]}', ["'input_data'", "twice"]),
        ('{"input_data": [[1, 1e39, 3, 4]]}', ["input_data[0][1]", "float32"]),
        ('{"input_data": [[1, ' + "9" * 5000 + ", 3, 4]]}", ["input_data[0][1]", "digits"]),
    ],
    ids=["duplicate-key", "1e39", "5000-digits"],
)
def test_hostile_input_files_are_refused_naming_the_field(tmp_path: Path, text: str, needles: list[str]) -> None:
    path = tmp_path / "input.json"
    path.write_text(text)
    with pytest.raises(InputError) as refused:
        inputs.load_sample(path, SPECS)
    assert str(path) in str(refused.value)
    for needle in needles:
        assert needle in str(refused.value)


def test_values_beyond_float32_are_refused_from_any_source(tmp_path: Path) -> None:
    import numpy as np

    np.save(tmp_path / "input.npy", np.asarray([[1.0, 2.0, -1e300, 4.0]]))
    with pytest.raises(InputError) as refused:
        inputs.load_sample(tmp_path / "input.npy", SPECS)
    assert "float32" in str(refused.value) and "index 2" in str(refused.value)
    with pytest.raises(InputError, match="float32"):
        inputs.from_values([[1.0, 4e38, 0.0, 0.0]], SPECS, "inputs")
