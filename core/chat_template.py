"""Render chat messages with the model's own chat template (from its GGUF).

llama-cpp-python guesses a chat format from the template and can guess wrong,
so Kefu renders the template that ships inside the GGUF itself, in a Jinja
sandbox (the template comes from a file the user picked).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from core.errors import ModelError
from core.gguf import GGUFInfo

# Used only for a GGUF that carries no template; ChatML is what most instruction
# models of the Qwen, Yi and similar families use.
CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _raise(message: str) -> None:
    raise jinja2.exceptions.TemplateError(message)


@dataclass(frozen=True)
class ChatTemplate:
    source: str        # "from the GGUF" or what was used instead
    template: jinja2.Template
    bos_token: str
    eos_token: str

    @classmethod
    def from_text(cls, text: str, *, source: str, bos_token: str = "",
                  eos_token: str = "") -> "ChatTemplate":
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                            loader=jinja2.BaseLoader())
        env.globals["raise_exception"] = _raise
        env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
        try:
            template = env.from_string(text)
        except jinja2.TemplateError as exc:
            raise ModelError(f"The model's chat template cannot be used: {exc}") from None
        return cls(source=source, template=template, bos_token=bos_token, eos_token=eos_token)

    @classmethod
    def from_gguf(cls, info: GGUFInfo) -> "ChatTemplate":
        # Token strings are not loaded by the metadata reader; templates that print
        # bos_token are rare among chat models and llama.cpp adds BOS itself when the
        # model asks for it, so an empty bos_token is the safe choice.
        bos = eos = ""
        if info.chat_template:
            return cls.from_text(info.chat_template, source="from the GGUF", bos_token=bos,
                                 eos_token=eos)
        return cls.from_text(CHATML, source="ChatML (the GGUF has no chat template)")

    def render(self, messages: Sequence[object]) -> str:
        docs = [{"role": m.role, "content": m.content} for m in messages]  # type: ignore[attr-defined]
        try:
            return self.template.render(messages=docs, add_generation_prompt=True,
                                        bos_token=self.bos_token, eos_token=self.eos_token)
        except jinja2.TemplateError as exc:
            raise ModelError(f"The model's chat template failed on this conversation: "
                             f"{exc}") from None
