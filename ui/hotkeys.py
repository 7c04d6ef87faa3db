"""Keyboard shortcuts of the Review tab: one page-level keydown listener, passed to `launch(head=HEAD)`.

Gradio has no per-button hotkeys, so the script clicks the tab's buttons by elem_id. It ignores keys typed
into text fields (and with Ctrl/Meta/Alt held), and acts only while the Review tab is shown (its button is
visible), so keys on other tabs do nothing. In the final-text editor, Ctrl+Enter (or Cmd+Enter) saves.
"""

from __future__ import annotations

import json

# key -> elem_id of the button it clicks
KEYS = {
    "a": "review-accept", "r": "review-reject", "e": "review-edit", "u": "review-undo",
    "j": "review-next", "ArrowRight": "review-next", "k": "review-prev", "ArrowLeft": "review-prev",
    "?": "review-help", "h": "review-help",
}
REASON_KEYS = "12345678"  # toggle the nth checkbox of review-reasons

HELP = """**Shortcuts** (ignored while typing in a field)

| key | action | key | action |
|---|---|---|---|
| `a` | accept | `j` / `→` | next sample needing a decision |
| `r` | reject with the ticked reasons | `k` / `←` | previous sample |
| `e` | edit the final text | `Ctrl+Enter` | save the edit (while in the text) |
| `u` | undo your last decision | `1`–`8` | tick / untick a reject reason |
| `?` / `h` | show / hide this help | `Esc` | close this help |
"""

# The help floats over the sample (the page does not move) until `?`, `h`, `Esc` or its button closes it.
_STYLE = """
#review-help-text { position: fixed !important; top: 12vh; left: 50%; transform: translateX(-50%); z-index: 1000;
  width: min(720px, 92vw); max-height: 76vh; overflow: auto; padding: 16px 20px; border-radius: 8px;
  background: var(--background-fill-primary, #fff); border: 1px solid var(--border-color-primary, #ccc);
  box-shadow: 0 12px 48px rgba(0, 0, 0, 0.35); }
#review-actions { position: fixed !important; left: 0; right: 0; bottom: 0; z-index: 900; margin: 0 !important;
  padding: 6px max(16px, calc((100vw - 1280px) / 2)); background: var(--background-fill-primary, #fff);
  border-top: 1px solid var(--border-color-primary, #ccc); box-shadow: 0 -6px 18px rgba(0, 0, 0, 0.12); }
#review-actions #review-message, #review-actions #review-progress { max-height: 3em; overflow: auto; }
#review-rest { margin-bottom: 240px; }
#review-diff .textfield { display: block !important; word-break: normal !important; overflow-wrap: break-word; }
#review-diff .textfield > * { display: inline; }
"""

_SCRIPT = """
(() => {
  if (window.__selflengthenReviewKeys) return;  // installed once per page
  window.__selflengthenReviewKeys = true;
  const KEYS = %(keys)s;
  const REASON_KEYS = %(reason_keys)s;
  const TEXT_INPUTS = /^(text|search|number|email|password|url|tel|date|time|datetime-local|month|week)$/;
  const shown = (el) => !!el && el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
  const button = (id) => { const el = document.getElementById(id); return shown(el) ? el : null; };
  const typing = (el) => {
    if (!el || !el.tagName) return false;
    if (el.isContentEditable || el.tagName === "TEXTAREA" || el.tagName === "SELECT") return true;
    return el.tagName === "INPUT" && TEXT_INPUTS.test((el.type || "text").toLowerCase());
  };
  const focusFinal = (tries) => {  // the textarea becomes editable once the server answers
    const area = document.querySelector("#review-final textarea");
    if (area && !area.disabled && !area.readOnly) { area.focus(); return; }
    if (tries > 0) setTimeout(() => focusFinal(tries - 1), 100);
  };
  document.addEventListener("keydown", (event) => {
    const target = event.target;
    if (event.key === "Escape" && shown(document.getElementById("review-help-text"))) {
      const toggle = button("review-help");
      if (toggle) { event.preventDefault(); toggle.click(); }
      return;
    }
    if ((event.ctrlKey || event.metaKey) && event.key === "Enter" && target && target.closest
        && target.closest("#review-final")) {
      const save = button("review-save-edit");
      if (save) { event.preventDefault(); save.click(); }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing || typing(target)) return;
    if (!button("review-accept")) return;  // the Review tab is not the one shown
    if (REASON_KEYS.includes(event.key)) {
      const boxes = document.querySelectorAll("#review-reasons input[type=checkbox]");
      const box = boxes[REASON_KEYS.indexOf(event.key)];
      if (box) { event.preventDefault(); box.click(); }
      return;
    }
    const id = KEYS[event.key];
    const target_button = id && button(id);
    if (!target_button) return;
    event.preventDefault();
    target_button.click();
    if (id === "review-edit") focusFinal(40);
  });
})();
"""

HEAD = ("<style>" + _STYLE + "</style><script>"
        + _SCRIPT % {"keys": json.dumps(KEYS), "reason_keys": json.dumps(REASON_KEYS)} + "</script>")
