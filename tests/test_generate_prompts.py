"""Prompts: the paper's completion prompt by default, chat style, few-shot examples, template checks."""

import pytest
from pydantic import ValidationError

from pcclip.generate.prompts import FewShotExample, PromptSettings, prompt_problem, prompt_text, render_prompt


def test_default_is_the_papers_completion_prompt():
    prompt = render_prompt("a red circle.", " two blue squares ", PromptSettings())
    assert prompt == ("Q: What is the visual difference between an image of a red circle and an image of two blue squares?\nA:")


def test_chat_style_asks_the_same_question_as_messages():
    prompt = render_prompt("a red circle", "a star", PromptSettings(style="chat", system="Be brief."))
    assert prompt == (
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is the visual difference between an image of a red circle and an image of a star?"},
    )
    assert prompt_text(prompt).startswith('[{"role": "system"')


def test_few_shot_examples_come_first_in_both_styles():
    example = FewShotExample(caption_1="a cat", caption_2="a dog", answer="The first image shows a cat, not a dog.")
    completion = render_prompt("x", "y", PromptSettings(examples=(example,)))
    assert completion.startswith(
        "Q: What is the visual difference between an image of a cat and an image of a dog?\n"
        "A: The first image shows a cat, not a dog.\n\nQ: "
    )
    assert completion.endswith("an image of y?\nA:")
    chat = render_prompt("x", "y", PromptSettings(style="chat", examples=(example,)))
    assert [m["role"] for m in chat] == ["user", "assistant", "user"]


def test_templates_are_configurable_and_checked():
    settings = PromptSettings(question="How does {caption_1} differ from {caption_2}?", completion="{question}\nAnswer:")
    assert render_prompt("a", "b", settings) == "How does a differ from b?\nAnswer:"
    with pytest.raises(ValidationError, match=r"exactly the fields \['caption_1', 'caption_2'\], found \['caption_1'\]"):
        PromptSettings(question="Describe {caption_1}")
    with pytest.raises(ValidationError, match="not a valid template"):
        PromptSettings(question="{caption_1} {caption_2} {")


def test_prompt_problems_are_named():
    ok = render_prompt("a", "b", PromptSettings())
    assert prompt_problem(ok, "a", "b", 1000) is None
    assert prompt_problem(render_prompt("", "b", PromptSettings()), " . ", "b", 1000) == "empty caption_a"
    assert prompt_problem(ok, "a", "b", 10).startswith("prompt too long (")
    bad = render_prompt("caf\udce9", "b", PromptSettings())
    assert prompt_problem(bad, "caf\udce9", "b", 1000).startswith("prompt is not valid UTF-8 text")
