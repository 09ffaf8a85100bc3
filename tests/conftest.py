"""Shared test settings: where the real data sets live."""

from __future__ import annotations

import os
from pathlib import Path

# Real data that nobody here wrote, beside the project (CI clones the project next to shared/).
SHARED_DATA = Path(os.environ.get("BEDCAST_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
