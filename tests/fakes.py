"""A fake engine for unit and GUI tests: the same protocol as ``LlamaEngine``.

It checks its own assumptions (chat roles, context budget, one owner thread) so
a test that misuses the protocol fails here rather than passing by accident.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Iterator, Sequence

from core.engine import (EngineInfo, GenerationDone, GenEvent, PromptProgress, SamplingParams,
                         StopFlag, TokenDelta, common_prefix)
from core.errors import EngineNotLoadedError, ModelError
from core.prompt import ChatMessage
from core.settings import Settings


class FakeEngine:
    """Tokens are characters; replies are scripted; an optional delay paces each token."""

    def __init__(self, *, reply: str = "Thank you for your message. We will check.",
                 n_ctx: int = 4096, token_delay: float = 0.0, batch: int = 64,
                 fail_load: str | None = None, offload_reason: str = "fake engine",
                 translation: str = "") -> None:
        self.reply = reply
        # The reply to a search-query translation (core/kb/translate.py)
        self.translation = translation
        self.n_ctx = n_ctx
        self.token_delay = token_delay
        self.batch = batch
        self.fail_load = fail_load
        self.offload_reason = offload_reason
        self._info: EngineInfo | None = None
        self._cache: list[int] = []
        self._owner: int | None = None
        self.prompts: list[list[ChatMessage]] = []
        self.evaluated_tokens = 0
        self.generated_tokens = 0

    def _check_thread(self) -> None:
        me = threading.get_ident()
        if self._owner is None:
            self._owner = me
        assert self._owner == me, "the engine was used from two threads"

    @property
    def info(self) -> EngineInfo | None:
        return self._info

    def load(self, path: Path, settings: Settings) -> EngineInfo:
        self._check_thread()
        if self.fail_load:
            raise ModelError(self.fail_load)
        self._info = EngineInfo(
            model_path=str(path), model_name="fake-model", architecture="fake",
            quantization="F32", n_ctx=min(self.n_ctx, settings.n_ctx), n_threads=1,
            n_gpu_layers=0, device="CPU (fake)", offload_reason=self.offload_reason,
            chat_template="fake", load_seconds=0.0)
        return self._info

    def unload(self) -> None:
        self._info = None

    @staticmethod
    def _tokens(messages: Sequence[ChatMessage]) -> list[int]:
        text = "".join(f"<{m.role}>{m.content}" for m in messages)
        return [ord(c) for c in text]

    def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        self._check_thread()
        return len(self._tokens(messages))

    def generate(self, messages: Sequence[ChatMessage], params: SamplingParams, *,
                 stop: StopFlag) -> Iterator[GenEvent]:
        self._check_thread()
        if self._info is None:
            raise EngineNotLoadedError("not loaded")
        assert [m.role for m in messages][0] == "system", "the system prompt comes first"
        assert all(m.role in ("system", "user", "assistant") for m in messages)
        assert params.max_tokens > 0
        tokens = self._tokens(messages)
        assert len(tokens) + params.max_tokens <= self._info.n_ctx, "prompt overflows context"
        self.prompts.append(list(messages))
        started = time.perf_counter()
        reused = common_prefix(self._cache, tokens[:-1])
        yield PromptProgress(reused, len(tokens), reused)
        for start in range(reused, len(tokens), self.batch):
            if stop.is_set():
                yield GenerationDone("", 0, len(tokens), reused, 0.0,
                                     time.perf_counter() - started, "cancelled")
                return
            done = min(start + self.batch, len(tokens))
            self.evaluated_tokens += done - start
            self._cache = tokens[:done]
            yield PromptProgress(done, len(tokens), reused)
        first = time.perf_counter()
        out = []
        reason = "stop"
        translating = messages[0].content.startswith("You are a translator.")
        for i, ch in enumerate(self.translation if translating else self.reply):
            if stop.is_set():
                reason = "cancelled"
                break
            if i >= params.max_tokens:
                reason = "length"
                break
            if self.token_delay:
                time.sleep(self.token_delay)  # paces the fake model, not the test
            self.generated_tokens += 1
            out.append(ch)
            yield TokenDelta(ch)
        yield GenerationDone("".join(out), len(out), len(tokens), reused, first - started,
                             time.perf_counter() - started, reason)
