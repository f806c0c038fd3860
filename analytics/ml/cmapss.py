"""NASA C-MAPSS run-to-failure data (the FD001 layout): reading it, with clear errors.

Files: ``train_FD001.txt`` (units run to failure), ``test_FD001.txt`` (units cut short) and
``RUL_FD001.txt`` (the true cycles left of each test unit). Space separated, no header: unit,
cycle, three operational settings, sensors s1 to s21.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

COLUMNS = ["unit", "cycle", "setting1", "setting2", "setting3"] + [f"s{i}" for i in range(1, 22)]
# The sensors that change over an engine's life in FD001 (the other seven are constant or
# nearly so): the set the literature uses.
SIGNALS = [f"s{i}" for i in (2, 3, 4, 7, 8, 9, 11, 12, 13, 14, 15, 17, 20, 21)]


class DatasetError(ValueError):
    """A data set that cannot be used, naming the file and what is wrong."""


@dataclass
class CMAPSS:
    train: pd.DataFrame
    test: pd.DataFrame
    truth: np.ndarray  # cycles left at each test unit's last row, in unit order


def _table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DatasetError(f"{path}: missing")
    try:
        frame = pd.read_csv(path, sep=r"\s+", header=None)
    except pd.errors.EmptyDataError:
        raise DatasetError(f"{path}: empty") from None
    if frame.shape[1] != len(COLUMNS):
        raise DatasetError(
            f"{path}: {frame.shape[1]} columns, expected {len(COLUMNS)} "
            "(unit, cycle, 3 settings, 21 sensors)"
        )
    frame.columns = COLUMNS
    if not np.issubdtype(frame["unit"].dtype, np.number) or frame.isna().any().any():
        raise DatasetError(f"{path}: non-numeric or missing values")
    return frame


def cmapss_load(folder: Path, subset: str = "FD001") -> CMAPSS:
    train = _table(folder / f"train_{subset}.txt")
    test = _table(folder / f"test_{subset}.txt")
    truth_path = folder / f"RUL_{subset}.txt"
    if not truth_path.is_file():
        raise DatasetError(f"{truth_path}: missing")
    try:
        truth = pd.read_csv(truth_path, sep=r"\s+", header=None).iloc[:, 0].to_numpy(float)
    except pd.errors.EmptyDataError:
        raise DatasetError(f"{truth_path}: empty") from None
    units = test["unit"].nunique()
    if len(truth) != units:
        raise DatasetError(f"{truth_path}: {len(truth)} values for {units} test units")
    return CMAPSS(train=train, test=test, truth=truth)
