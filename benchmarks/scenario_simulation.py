"""What-if census against a direct simulation of the M_t/G/∞ queue, per unit of the demo hospital.

    .venv/bin/python benchmarks/scenario_simulation.py [--replications 5000]

The demo hospital's flow structure as training builds it (expected admissions by type, length-of-stay curves,
patients in bed), a scenario (acute admissions −5 % from the third week, stays −10 % for admissions from the
second, planned admissions levelled over the weekdays), and per unit the scenario's expected census over the
next 90 days against the mean of `replications` patient-by-patient simulations
(`tests/test_scenario_simulation.py`). Figures only; the slow test asserts the 1 % agreement.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.test_scenario_simulation import compare  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=5000, help="simulated runs of the queue per unit")
    args = parser.parse_args()
    started = time.perf_counter()
    table = compare(args.replications)
    print(table.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    worst = table["relative_gap"].abs().max()
    seconds = time.perf_counter() - started
    print(f"largest gap of the 90-day mean: {worst:.2%} ({args.replications} replications, {seconds:.0f} s)")


if __name__ == "__main__":
    main()
