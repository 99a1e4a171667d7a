"""Learned linear models shipped as small JSON files in `app/weights/` (coefficients, scaling, provenance).

Both learned steps (the quote ranker and the abstention model) are logistic regressions fitted by
`benchmarks/train.py` with cross-validation grouped by document. Scoring is a dot product in numpy, so the
service needs no scikit-learn at run time; the file also records what it was trained on and its
cross-validated figures, and its sha256 goes into the index manifest.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from app.errors import WeightsError

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


@dataclass(frozen=True)
class LinearModel:
    """z = coef · (x - mean) / scale + intercept over named features; `threshold` is a decision point on σ(z)."""

    name: str
    features: tuple[str, ...]
    mean: npt.NDArray[np.float64]
    scale: npt.NDArray[np.float64]
    coef: npt.NDArray[np.float64]
    intercept: float
    threshold: float
    sha256: str

    def logits(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """One logit per row of x (columns in `features` order)."""
        return np.asarray(((x - self.mean) / self.scale) @ self.coef + self.intercept, dtype=np.float64)

    def probabilities(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.asarray(1.0 / (1.0 + np.exp(-self.logits(x))), dtype=np.float64)

    @classmethod
    def from_json(cls, name: str, raw: bytes) -> LinearModel:
        data: dict[str, Any] = json.loads(raw)
        features = tuple(data["features"])
        arrays = [np.asarray(data[k], dtype=np.float64) for k in ("mean", "scale", "coef")]
        if any(a.shape != (len(features),) for a in arrays):
            raise WeightsError(f"weights file {name}: mean, scale and coef must each have {len(features)} values")
        return cls(
            name,
            features,
            arrays[0],
            np.where(arrays[1] > 0, arrays[1], 1.0),
            arrays[2],
            float(data["intercept"]),
            float(data.get("threshold", 0.5)),
            hashlib.sha256(raw).hexdigest(),
        )

    @classmethod
    def load(cls, name: str, folder: Path = WEIGHTS_DIR, expected: tuple[str, ...] | None = None) -> LinearModel:
        """Read `folder/name.json`; a missing or malformed file is a clear error, not a silent default. With
        `expected`, the file must name exactly those features in that order (the code fills columns by name)."""
        path = folder / f"{name}.json"
        try:
            model = cls.from_json(name, path.read_bytes())
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise WeightsError(f"cannot load the learned weights {path}: {exc}; run `make train`") from None
        if expected is not None and model.features != expected:
            raise WeightsError(
                f"the learned weights {path} are for features {list(model.features)}, but this code computes "
                f"{list(expected)}; run `make train`"
            )
        return model


def weights_versions(folder: Path = WEIGHTS_DIR) -> dict[str, str]:
    """sha256 of every learned weights file, for the index manifest (which models answered from a build)."""
    return {path.stem: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.glob("*.json"))}
