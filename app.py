"""Self-Lengthen Studio: the composition root (store + demo model + UI).

    python app.py [--db data/studio.db] [--host 127.0.0.1] [--port 7860]

On first start it builds the offline demo model under ./data/ and creates a 'demo' run on it, so a
newcomer can follow the loop with no setup: run `python -m selflengthen iterate --db data/studio.db
--name demo` and watch the Overview tab.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DEMO_SEEDS = ROOT / "selflengthen" / "data" / "demo_seeds.jsonl"


def ensure_demo_run(store, data_dir: Path) -> None:
    """Build the demo model and the 'demo' run once; later starts reuse them."""
    from selflengthen.config import preset_config
    from selflengthen.demo_model import build_demo_model
    from selflengthen.seeds import load_seeds

    if store.get_run("demo") is not None:
        return
    model_dir = data_dir / "demo-model"
    if not (model_dir / "config.json").exists():
        print(f"building the demo model in {model_dir} (first start only) ...", flush=True)
        build_demo_model(model_dir)
    seeds = [s.to_dict() for s in load_seeds(DEMO_SEEDS)]
    config = preset_config("demo")
    store.create_run("demo", str(model_dir), str(model_dir), config.backend.name, "demo", config.to_dict(), seeds)


def build_app(store):
    """The Gradio app over one store (its connection is shared by handler threads behind a lock)."""
    import gradio as gr

    from ui.overview import build_overview_tab

    with gr.Blocks(title="Self-Lengthen Studio") as demo:
        gr.Markdown("# Self-Lengthen Studio")
        build_overview_tab(store)
    return demo


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Self-Lengthen Studio dashboard")
    parser.add_argument("--db", default=os.environ.get("SELFLENGTHEN_DB", "data/studio.db"))
    parser.add_argument("--host", default=os.environ.get("SELFLENGTHEN_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("SELFLENGTHEN_PORT", "7860")))
    args = parser.parse_args(argv)
    from storage import Store

    db_path = Path(args.db)
    store = Store(db_path)
    ensure_demo_run(store, db_path.parent)
    build_app(store).launch(server_name=args.host, server_port=args.port)


if __name__ == "__main__":
    main()
