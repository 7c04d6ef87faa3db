"""chat_reply: one reply from a real model directory, cached between turns; its CLI twin `chat`."""

import json

import pytest

from commands import cli
from selflengthen.errors import BackendError, InputError
from selflengthen.training import chat
from selflengthen.training.chat import chat_reply, model_and_adapter

HI = [{"role": "user", "content": "Write an essay about tea."}]


@pytest.fixture(autouse=True)
def empty_cache():
    chat.release()
    yield
    chat.release()


@pytest.mark.slow
def test_reply_is_a_string_and_deterministic_for_a_seed(untrained_model_dir):
    first = chat_reply(str(untrained_model_dir), HI, max_new_tokens=12, seed=3)
    backend = chat._cached["backend"]
    assert isinstance(first, str) and first
    assert chat_reply(str(untrained_model_dir), HI, max_new_tokens=12, seed=3) == first
    assert chat._cached["backend"] is backend  # the second turn reused the loaded model
    assert chat_reply(str(untrained_model_dir), HI, max_new_tokens=12, seed=4) != first
    assert chat.loaded_model() == str(untrained_model_dir)


@pytest.mark.slow
def test_multi_turn_conversation_and_release(untrained_model_dir):
    turns = HI + [{"role": "assistant", "content": "Tea is old."}, {"role": "user", "content": "More, please."}]
    assert chat_reply(str(untrained_model_dir), turns, max_new_tokens=6, temperature=0)
    chat.release()
    assert chat.loaded_model() is None and not chat.generating()


@pytest.mark.slow
def test_the_trained_demo_model_answers(demo_model_dir):
    reply = chat_reply(str(demo_model_dir), HI, max_new_tokens=64, temperature=0)
    assert len(reply.split()) >= 3


@pytest.mark.slow
def test_a_missing_model_is_one_clear_error(tmp_path):
    with pytest.raises(BackendError, match="model path not found: .*nowhere"):
        chat_reply(str(tmp_path / "nowhere"), HI)
    assert chat.loaded_model() is None


@pytest.mark.parametrize("messages, kwargs, match", [
    ([], {}, "conversation is empty"),
    ([{"role": "assistant", "content": "hi"}], {}, "must end with a non-empty user message"),
    ([{"role": "user", "content": "   "}], {}, "must end with a non-empty user message"),
    ([{"role": "robot", "content": "hi"}], {}, "message 1 must have a role"),
    (HI, {"max_new_tokens": 0}, "max new tokens must be a whole number"),
    (HI, {"max_new_tokens": None}, "max new tokens must be a whole number"),
    (HI, {"temperature": -1}, "temperature must be a number"),
])
def test_bad_input_is_refused_before_loading_anything(messages, kwargs, match):
    with pytest.raises(InputError, match=match):
        chat_reply("/no/model/needed", messages, **kwargs)
    assert chat.loaded_model() is None


def test_an_empty_model_name_is_refused():
    with pytest.raises(InputError, match="choose a model"):
        chat_reply("  ", HI)


def test_an_adapter_directory_loads_on_its_base_model(tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "/models/base"}))
    assert model_and_adapter(str(adapter)) == ("/models/base", str(adapter))
    assert model_and_adapter("/models/base") == ("/models/base", None)
    (adapter / "adapter_config.json").write_text("{}")
    with pytest.raises(BackendError, match="names no base model"):
        model_and_adapter(str(adapter))


@pytest.mark.slow
def test_cli_chat_prints_a_reply(untrained_model_dir, tmp_path):
    result = cli("chat", "--model", untrained_model_dir, "--message", "hi", "--max-new-tokens", "8", check=True)
    assert result.stdout.strip()
    again = cli("chat", "--model", untrained_model_dir, "--message", "hi", "--max-new-tokens", "8", check=True)
    assert again.stdout == result.stdout  # seed 0 by default: the same reply
    missing = cli("chat", "--model", tmp_path / "gone", "--message", "hi")
    assert missing.returncode == 1 and missing.stderr.strip().splitlines()[-1] == (
        f"error: model path not found: {tmp_path / 'gone'}")


@pytest.mark.slow  # a subprocess (the CLI) with a model
def test_a_conversation_through_the_cli_equals_the_same_turns_in_the_library(untrained_model_dir):
    turns = HI + [{"role": "assistant", "content": "Tea is old."}, {"role": "user", "content": "More, please."}]
    expected = chat_reply(str(untrained_model_dir), turns, max_new_tokens=8, seed=0)
    chat.release()
    args = [a for m in turns for a in ("--message", m["content"])]
    result = cli("chat", "--model", untrained_model_dir, *args, "--max-new-tokens", "8", check=True)
    assert result.stdout.strip() == expected
    assert expected != chat_reply(str(untrained_model_dir), turns[-1:], max_new_tokens=8, seed=0)  # history counts
    even = cli("chat", "--model", untrained_model_dir, "--message", "a", "--message", "b")
    assert even.returncode == 1 and "ends with yours (got 2)" in even.stderr
