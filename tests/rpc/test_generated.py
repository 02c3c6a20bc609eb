"""The committed gRPC code is what scripts/gen_proto makes of proto/ today."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "energymon" / "rpc" / "gen"


def _differences(cmp: filecmp.dircmp[str], prefix: str = "") -> list[str]:
    found = [f"{prefix}{name}" for name in cmp.left_only + cmp.right_only + cmp.diff_files]
    for name, sub in cmp.subdirs.items():
        found += _differences(sub, f"{prefix}{name}/")
    return found


def test_generated_code_matches_the_proto(tmp_path: Path) -> None:
    out = tmp_path / "gen"
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_proto.py"), "--out", str(out)],
        check=True,
        capture_output=True,
    )
    cmp = filecmp.dircmp(out, COMMITTED, ignore=["__pycache__"])
    stale = _differences(cmp)
    assert not stale, f"energymon/rpc/gen is stale ({', '.join(stale)}): run scripts/gen_proto"
