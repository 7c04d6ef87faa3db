"""Try it: chat with a base model or any trained checkpoint of the run, inside the Train tab.

Replies are generated in the dashboard's process by `selflengthen.training.chat` (the CLI's `chat`, shown as the
twin of the last message), never while a job runs: both need the same cores. Replies are shown in a Chatbot,
whose markdown is sanitised.
"""

from __future__ import annotations

from functools import partial

import gradio as gr

from selflengthen.errors import SelfLengthenError
from selflengthen.jobs.commands import cli_command, shown
from selflengthen.training import chat


def chat_models(studio, run_name: str | None) -> list[tuple[str, str]]:
    """(label, path) of the run's base models and every registered checkpoint, e.g.
    ('iteration 1 · generator · /data/checkpoints/r/iteration-1/generator/final', '/data/...')."""
    run = studio.store.get_run(run_name) if run_name else None
    if run is None:
        return []
    if run["generator_model"] == run["extender_model"]:
        choices = [(f"base generator & extender · {run['generator_model']}", run["generator_model"])]
    else:
        choices = [(f"base {role} · {run[f'{role}_model']}", run[f"{role}_model"])
                   for role in ("generator", "extender")]
    choices += [(f"iteration {c['iteration']} · {c['role']} · {c['path']}", c["path"])
                for c in studio.store.run_checkpoints(run["id"])]
    seen: set[str] = set()
    return [choice for choice in choices if not (choice[1] in seen or seen.add(choice[1]))]


def chat_command(model: str | None, message: str | None, max_new_tokens, history=None) -> str:
    """`python -m selflengthen chat ...` for the model and the whole conversation: each earlier turn, then the
    message (one --message each, alternating yours and the model's)."""
    tokens = [] if max_new_tokens in (None, "") else ["--max-new-tokens", str(int(max_new_tokens))]
    turns = [m["content"] for m in history_messages(history) if m["role"] in ("user", "assistant")]
    messages = [arg for text in [*turns, message or "MESSAGE"] for arg in ("--message", text)]
    return shown(cli_command("chat", "--model", model or "MODEL", *messages, *tokens))


def history_messages(history) -> list[dict]:
    """The Chatbot's value as plain {role, content} text messages (Gradio hands content over as parts)."""
    messages = []
    for message in history or []:
        content = message.get("content")
        if isinstance(content, list):
            content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
        if isinstance(content, str) and message.get("role") in ("user", "assistant", "system"):
            messages.append({"role": message["role"], "content": content})
    return messages


def chat_send(studio, model: str | None, history, message: str | None, max_new_tokens):
    """One chat turn, generated in-process; (history, input box, status, CLI twin). Refused while a job runs."""
    history, message = history_messages(history), (message or "").strip()
    twin = chat_command(model, message, max_new_tokens, history)
    if not message:
        return history, "", "Write a message first.", twin
    busy = studio.worker.busy_reason()
    if busy:
        return history, message, f"**Not now:** {busy}. Chat waits until it ends: both need the same cores.", twin
    turns = history + [{"role": "user", "content": message}]
    try:
        reply = chat.chat_reply(model or "", turns, max_new_tokens=max_new_tokens)
    except SelfLengthenError as e:
        return history, message, f"**Error:** {e}", twin
    context = f", with the {len(history)} earlier messages as context" if history else ""
    return turns + [{"role": "assistant", "content": reply}], "", f"Answered by {model}{context}.", twin


def clear_chat() -> tuple[list, str, str]:
    return [], "", ""


def build() -> dict:
    with gr.Accordion("Try it: chat with a model or checkpoint", open=False):
        model = gr.Dropdown(label="Model", elem_id="chat-model", allow_custom_value=True, interactive=True,
                            info="A base model or a trained checkpoint; you may also type a directory or hub id.")
        box = gr.Chatbot(label="Chat", elem_id="chat-box", height=360, feedback_options=None, buttons=["copy"])
        with gr.Row():
            text = gr.Textbox(label="Message (the model reads the whole conversation above)", elem_id="chat-input",
                              scale=4, lines=1, max_lines=6)
            max_new = gr.Number(256, label="max new tokens", elem_id="chat-max-new-tokens", precision=0, scale=1)
        with gr.Row():
            send = gr.Button("Send", variant="primary", elem_id="chat-send")
            clear = gr.Button("Clear", elem_id="chat-clear")
        status = gr.Markdown(elem_id="chat-status")
        command = gr.Textbox(label="Command (the CLI twin: the whole conversation)", elem_id="chat-command",
                             interactive=False)
    return {"model": model, "box": box, "text": text, "max_new": max_new, "send": send, "clear": clear,
            "status": status, "command": command}


def wire(studio, talk: dict) -> None:
    """Send, Enter, Clear, and the CLI twin kept in step with the model and the message."""
    inputs = [talk["model"], talk["box"], talk["text"], talk["max_new"]]
    outputs = [talk["box"], talk["text"], talk["status"], talk["command"]]
    talk["send"].click(partial(chat_send, studio), inputs, outputs, api_name="chat_send")
    talk["text"].submit(partial(chat_send, studio), inputs, outputs, api_visibility="private")
    talk["clear"].click(clear_chat, None, [talk["box"], talk["text"], talk["status"]], api_name="chat_clear")
    talk["model"].change(chat_command, [talk["model"], talk["text"], talk["max_new"], talk["box"]], talk["command"],
                         queue=False, api_visibility="private")
