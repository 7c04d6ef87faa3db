"""What every benchmark script shares: the machine it ran on, timing helpers, the demo model, the output.

Each script prints one JSON object (its figures plus `machine`) and then a one-line summary. Figures are
ratios where the machine's speed would otherwise blur them; times are medians or bests of repeats because
other work shares the CPU.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as `python bench/x.py` from anywhere


def machine() -> dict:
    """Cores, memory, Python and (when installed) torch: enough to tell two figures' machines apart."""
    info = {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        info["ram_gib"] = round(pages * page_size / 2**30, 1)
    except (ValueError, OSError, AttributeError):  # not every platform names these
        pass
    try:
        info["torch"] = metadata.version("torch")  # without importing it (1.6 s) where a script has no use for it
    except metadata.PackageNotFoundError:
        pass
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch_threads"] = torch.get_num_threads()
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return info


def timed(work) -> tuple[float, object]:
    """(seconds, result) of one call of work().

    >>> seconds, value = timed(lambda: 2 + 2)
    >>> value, seconds >= 0
    (4, True)
    """
    start = time.perf_counter()
    result = work()
    return time.perf_counter() - start, result


def median(values: list[float]) -> float:
    """The middle value (the mean of the two middle ones for an even count).

    >>> median([3.0, 1.0, 2.0])
    2.0
    """
    return statistics.median(values)


def demo_model(path: str | None) -> Path:
    """The demo model to benchmark with: `path`, else $SELFLENGTHEN_DEMO_MODEL, else one built into a temp dir."""
    chosen = path or os.environ.get("SELFLENGTHEN_DEMO_MODEL")
    if chosen and (Path(chosen) / "config.json").exists():
        return Path(chosen)
    import tempfile

    from selflengthen.demo.model import build_demo_model

    return build_demo_model(Path(chosen) if chosen else Path(tempfile.mkdtemp(prefix="sl-bench-model-")))


def report(result: dict, summary: str) -> dict:
    """Print the figures as one JSON line (with the machine), then the one-line summary; returns the figures."""
    result = {**result, "machine": machine()}
    print(json.dumps(result), flush=True)
    print(summary, flush=True)
    return result


def cli(*args) -> str:
    """`python -m selflengthen ARGS` in this checkout; its stdout, or exit with the command's stderr tail."""
    import subprocess

    args = [str(a) for a in args]
    out = subprocess.run([sys.executable, "-m", "selflengthen", *args], cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{out.stderr[-3000:]}")
    return out.stdout
