"""Prompt templates: the bundled sets, a folder of one's own (the reference's files included), the placeholder
checks, chat-formatted templates as completion-style prompts, and the templates kept with a run's config."""

from __future__ import annotations

import pytest

from selflengthen.config import RunConfig, preset_config
from selflengthen.errors import ConfigError
from selflengthen.method.augment import build_new_instruction_prompt, next_number_stop
from selflengthen.method.expand import build_expand_prompt
from selflengthen.method.templates import NAMES, as_prompt, bundled, check_template, load_templates

# The reference implementation's own template files, as published (Chinese).
REFERENCE_SELF_INSTRUCT = ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
                           "你的任务是构造一些可以引导长文本生成的用户指令，注意指令应该是完整结束的。<|im_end|>\n"
                           "<|im_start|>assistant\n指令1：{prompt1}\n指令2：{prompt2}\n指令3：")
REFERENCE_JUDGE = ("给定一条用户的指令，请判断它是否适合指导长篇文章（比如，大于2000字）的生成。只返回“是”或“否”作为你的回答。"
                   "\n\n<指令>\n{prompt}\n</指令>")
REFERENCE_EXTEND = "根据提供的指令和原始大纲……\n\n指令：{prompt}\n\n原始大纲：\n\n{response}"


@pytest.mark.parametrize("set_name", ["default", "paper"])
def test_every_bundled_template_is_complete_and_valid(set_name):
    templates = bundled(set_name)
    assert set(templates) == set(NAMES)
    for name, text in templates.items():
        check_template(name, text)


def test_the_default_set_asks_what_the_pipeline_always_asked():
    prompt = build_expand_prompt("Describe a harbor.", "Boats leave.", "en")
    assert prompt.messages[0]["content"].startswith("A writer answered the request below.")
    assert "Request:\nDescribe a harbor.\n\nAnswer:\nBoats leave.\n\n" in prompt.messages[0]["content"]


@pytest.mark.parametrize("name, text, message", [
    ("expand_en", "Expand {response}.", "template expand_en: missing placeholder {prompt}"),
    ("expand_en", "{prompt} {response} {lenght}", "template expand_en: unknown placeholder {lenght}"),
    ("judge_zh", "判断：{instruction}", "template judge_zh: unknown placeholder {instruction}"),
    ("self_instruct_en", "Write one like these.", "template self_instruct_en: missing placeholder {prompt1}"),
    ("summary", "{prompt}", "unknown template 'summary'"),
    ("generate", "{prompt", "not a valid template"),
])
def test_a_bad_template_is_refused_by_name(name, text, message):
    with pytest.raises(ConfigError, match=message.replace("{", r"\{").replace("}", r"\}")):
        check_template(name, text)


def test_a_run_config_refuses_a_bad_template_and_keeps_a_good_one():
    with pytest.raises(ConfigError, match=r"prompts.template expand_zh: missing placeholder \{response\}"):
        preset_config("demo", {"prompts": {"text": {"expand_zh": "扩写：{prompt}"}}})
    mine = "Make it longer.\n\n{prompt}\n\n{response}"
    config = preset_config("demo", {"prompts": {"text": {"expand_en": mine}}})
    assert config.prompts.text["expand_en"] == mine and len(config.prompts.text) == len(NAMES)
    assert RunConfig.from_dict(config.to_dict()).prompts.resolved()["expand_en"] == mine  # kept with the run


def test_the_reference_files_load_unchanged_from_a_folder(tmp_path):
    (tmp_path / "self_instruct.md").write_text(REFERENCE_SELF_INSTRUCT, encoding="utf-8")
    (tmp_path / "judge_prompt.md").write_text(REFERENCE_JUDGE, encoding="utf-8")
    (tmp_path / "extend_response.md").write_text(REFERENCE_EXTEND, encoding="utf-8")
    (tmp_path / "judge_en.md").write_text("Long text? yes or no.\n{prompt}", encoding="utf-8")  # one language's own
    templates = load_templates(str(tmp_path))
    assert templates["self_instruct_zh"] == templates["self_instruct_en"] == REFERENCE_SELF_INSTRUCT
    assert (templates["judge_zh"], templates["judge_en"]) == (REFERENCE_JUDGE, "Long text? yes or no.\n{prompt}")
    assert templates["generate"] == bundled("default")["generate"]  # what the folder lacks comes from default
    config = preset_config("demo", {"prompts": {"templates": str(tmp_path)}})
    assert config.prompts.text["expand_zh"] == REFERENCE_EXTEND


def test_a_folder_without_templates_or_with_a_bad_one_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="no template file"):
        load_templates(str(tmp_path))
    (tmp_path / "extend_response.md").write_text("扩写：{response}", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"missing placeholder \{prompt\}"):
        load_templates(str(tmp_path))
    with pytest.raises(ConfigError, match="neither a bundled set"):
        load_templates(str(tmp_path / "missing"))


def test_a_chat_formatted_self_instruct_template_is_a_completion_prompt_that_stops_at_the_next_number():
    prompt = build_new_instruction_prompt(["写一篇关于春天的文章。", "写一封信。"], "zh", template=REFERENCE_SELF_INSTRUCT)
    assert [m["role"] for m in prompt.messages] == ["system", "user"]
    assert prompt.prefill == "指令1：写一篇关于春天的文章。\n指令2：写一封信。\n指令3："
    assert next_number_stop(prompt) == ("\n指令4",)
    english = build_new_instruction_prompt(["Write A.", "Write B."], "en", template=bundled("paper")["self_instruct_en"])
    assert english.prefill.endswith("Instruction 3: ") and next_number_stop(english) == ("\nInstruction 4",)


def test_llama_3_headers_become_messages_too():
    text = ("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nList.<|eot_id|><|start_header_id|>assistant<|end_header_id|>"
            "\nInstruction 1: A\nInstruction 2: ")
    prompt = as_prompt(text)
    assert [(m["role"], m["content"]) for m in prompt.messages] == [("system", "Be brief."), ("user", "List.")]
    assert prompt.prefill == "Instruction 1: A\nInstruction 2: "
