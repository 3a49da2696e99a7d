"""scikit-learn's bundled 8x8 digits (no download), scaled to [0, 1], with one fixed stratified split.

Every script and test that needs digits data calls `load_split()`, so the samples written to
`models/*_input.json` and the calibration files are reproducible from the seed alone.
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

TEST_FRACTION = 0.25
PIXEL_MAX = 16.0  # the digits' pixel values are integers 0..16


def load_split(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X_train, X_test, y_train, y_test): X float32 of shape [n, 64] in [0, 1], y int64 labels."""
    digits = load_digits()
    x = (np.asarray(digits.data, dtype=np.float32) / PIXEL_MAX).astype(np.float32)
    y = np.asarray(digits.target, dtype=np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=TEST_FRACTION, random_state=seed, stratify=y)
    return x_train, x_test, y_train, y_test
