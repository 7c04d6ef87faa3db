"""Self-Lengthen Studio: the composition root (store + job worker + UI).

    python app.py [--db data/studio.db] [--host 127.0.0.1] [--port 7860] [--auth USER:PASS ...]

Environment twins: SELFLENGTHEN_DB, SELFLENGTHEN_HOST, SELFLENGTHEN_PORT and SELFLENGTHEN_AUTH
("alice:secret,bob:pw"). On first start it builds the offline demo model under the database's folder and
creates a 'demo' run on it, so a newcomer can click through the whole loop with no setup.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
LOOPBACK = ("127.0.0.1", "localhost", "::1")
TABS = ("runs", "iterate", "review", "train", "insights", "compare", "evaluate", "finalize", "export")


def ensure_demo_run(store, data_dir: Path) -> None:
    """Build the demo model and the 'demo' run once; later starts reuse them."""
    from selflengthen.config import preset_config
    from selflengthen.demo.model import build_demo_model
    from selflengthen.runs.seeds import bundled_seeds

    if store.get_run("demo") is not None:
        return
    model_dir = Path(data_dir).resolve() / "demo-model"  # absolute: the run stays usable from any folder
    if not (model_dir / "config.json").exists():
        print(f"building the demo model in {model_dir} (first start only, about 40 s) ...", flush=True)
        build_demo_model(model_dir)
    seeds = [s.to_dict() for s in bundled_seeds("demo")]
    config = preset_config("demo")
    store.create_run("demo", str(model_dir), str(model_dir), config.backend.name, "demo", config.to_dict(), seeds)


def parse_auth(values: list[str]) -> list[tuple[str, str]]:
    """USER:PASS pairs from --auth values (each may hold several, comma-separated).

    >>> parse_auth(["alice:a:b", "bob:pw,carol:x"])
    [('alice', 'a:b'), ('bob', 'pw'), ('carol', 'x')]
    """
    pairs = []
    for value in values:
        for item in filter(None, (v.strip() for v in value.split(","))):
            user, sep, password = item.partition(":")
            if not sep or not user or not password:
                raise SystemExit(f"error: --auth needs USER:PASS (got {item.split(':')[0]!r}:...)")
            pairs.append((user, password))
    return pairs


def exposure_warning(host: str, auth: list) -> str | None:
    """The loud warning shown when the dashboard listens beyond this machine without a login."""
    if host in LOOPBACK or auth:
        return None
    return (f"WARNING: the dashboard listens on {host} WITHOUT --auth: anyone who can reach this port can read "
            "every run, record decisions and start jobs. Add --auth USER:PASS or bind to 127.0.0.1.")


def build_app(store, db_path: str | Path | None = None, *, auth: bool = False, warning: str | None = None):
    """The Gradio app over one store: a run picker above one tab per step of the loop."""
    import gradio as gr

    from ui.worker import Worker
    from ui import compare, evaluate, export, finalize, insights, iterate, review, runs, train
    from ui.address import restorer
    from ui.common import Studio, run_names
    from ui.pacing import narrow_progress, pace_timers

    db_path = Path(db_path or store.path)
    studio = Studio(store=store, db_path=db_path, worker=Worker(store), auth=auth)
    with gr.Blocks(title="Self-Lengthen Studio") as demo:
        with gr.Row(equal_height=True):
            gr.Markdown("# Self-Lengthen Studio")
            # No value at build time: the page's load event sets it, so `run.change` fires for every tab.
            run = gr.Dropdown(label="Run", choices=run_names(store), value=None, elem_id="run-select",
                              interactive=True, scale=0, min_width=260)
        if warning:
            gr.Markdown(f"**{warning}**", elem_id="exposure-warning")
        wanted = gr.State({})  # what the page's address names: run, tab, iteration, sample
        with gr.Tabs(elem_id="tabs") as tabs:
            for module in (runs, iterate, review, train, insights, compare, evaluate, finalize, export):
                module.build_tab(studio, run, wanted) if module is review else module.build_tab(studio, run)

        timers, timer_states = pace_timers(tabs, shown_first="runs")
        demo.load(restorer(store, lambda: _first_run(store), timer_states), run, [run, tabs, wanted, *timers],
                  queue=False)
    narrow_progress(demo)
    demo.studio = studio
    return demo




def _first_run(store) -> str | None:
    runs = store.list_runs()
    return runs[0]["name"] if runs else None


def launch_options() -> dict:
    """`launch()` arguments the app needs besides host and port (the keyboard shortcuts script)."""
    from ui import address, hotkeys

    # No run history: Gradio would keep every call's inputs and outputs (model text, curators' notes) in the
    # browser's storage, and re-serialise that history on each key press in Review.
    return {"head": hotkeys.HEAD + address.HEAD, "run_history": False}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Self-Lengthen Studio dashboard")
    parser.add_argument("--db", default=os.environ.get("SELFLENGTHEN_DB", "data/studio.db"))
    parser.add_argument("--host", default=os.environ.get("SELFLENGTHEN_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("SELFLENGTHEN_PORT", "7860")))
    parser.add_argument("--auth", action="append", default=[], metavar="USER:PASS",
                        help="require a login (repeatable; env SELFLENGTHEN_AUTH='u:p,u2:p2')")
    parser.add_argument("--no-demo", action="store_true", help="do not build the demo model and run on first start")
    args = parser.parse_args(argv)
    auth = parse_auth(args.auth or [os.environ.get("SELFLENGTHEN_AUTH", "")])
    warning = exposure_warning(args.host, auth)
    if warning:
        print(f"\n{'!' * 100}\n{warning}\n{'!' * 100}\n", file=sys.stderr, flush=True)
    from storage import Store

    db_path = Path(args.db).resolve()
    store = Store(db_path)
    if not args.no_demo:
        ensure_demo_run(store, db_path.parent)
    demo = build_app(store, db_path, auth=bool(auth), warning=warning)
    demo.launch(server_name=args.host, server_port=args.port, auth=auth or None, **launch_options())


if __name__ == "__main__":
    main()
