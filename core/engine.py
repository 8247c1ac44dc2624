"""The inference engine: one owner of the llama.cpp model, streaming typed events.

``Engine`` is the protocol every engine implements: the in-process
``LlamaEngine`` here, the fakes the tests use, and later a child-process or
OpenAI-compatible server engine.  Callers see only plain values: chat messages
in, an iterator of ``PromptProgress`` / ``TokenDelta`` / ``GenerationDone`` out.

An engine object is not thread-safe: exactly one thread (the app's model worker,
or the CLI's main thread) owns it.  The only thing other threads touch is the
``StopFlag``, which is checked between prompt batches and on every token.
"""

from __future__ import annotations

import codecs
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Protocol, Sequence, Union

from core.chat_template import ChatTemplate
from core.errors import EngineError, EngineNotLoadedError, ModelError
from core.gguf import GGUFError, read_gguf
from core.hardware import cpu_simd_level, llama_build, physical_cores, plan_offload
from core.prompt import ChatMessage
from core.settings import Settings

log = logging.getLogger("kefu.engine")


class StopFlag:
    """Set from any thread; read by the generating thread before every batch and token."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    def is_set(self) -> bool:
        return self._event.is_set()


@dataclass(frozen=True)
class EngineInfo:
    model_path: str
    model_name: str
    architecture: str
    quantization: str
    n_ctx: int
    n_threads: int
    n_gpu_layers: int
    device: str           # "CPU (AVX2, 2 threads)" or "GPU (CUDA, all layers)"
    offload_reason: str   # why it runs where it runs, in words
    chat_template: str    # "from the GGUF" or the fallback used
    load_seconds: float


@dataclass(frozen=True)
class PromptProgress:
    done: int     # prompt tokens in the context so far (reused ones included)
    total: int
    reused: int   # tokens kept from the previous prompt (not read again)


@dataclass(frozen=True)
class TokenDelta:
    text: str


@dataclass(frozen=True)
class GenerationDone:
    text: str
    tokens: int
    prompt_tokens: int
    reused_tokens: int
    prompt_seconds: float      # request to first token (time to first token)
    seconds: float             # request to the end
    stop_reason: str           # "stop" (end of turn), "length" or "cancelled"

    @property
    def tokens_per_second(self) -> float:
        decode = self.seconds - self.prompt_seconds
        return self.tokens / decode if decode > 0 and self.tokens > 1 else 0.0


GenEvent = Union[PromptProgress, TokenDelta, GenerationDone]


@dataclass(frozen=True)
class SamplingParams:
    max_tokens: int = 400
    temperature: float = 0.3
    top_p: float = 0.9
    seed: int = -1

    @classmethod
    def from_settings(cls, settings: Settings, *, max_tokens: int | None = None,
                      seed: int | None = None) -> "SamplingParams":
        return cls(max_tokens=max_tokens or settings.max_tokens,
                   temperature=settings.temperature, top_p=settings.top_p,
                   seed=settings.seed if seed is None else seed)


class Engine(Protocol):
    """What the drafting code needs from a model, whatever runs it."""

    @property
    def info(self) -> EngineInfo | None: ...

    def load(self, path: Path, settings: Settings) -> EngineInfo: ...

    def unload(self) -> None: ...

    def count_tokens(self, messages: Sequence[ChatMessage]) -> int: ...

    def generate(self, messages: Sequence[ChatMessage], params: SamplingParams, *,
                 stop: StopFlag) -> Iterator[GenEvent]: ...


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


class LlamaEngine:
    """llama-cpp-python in this process.  Owns the ``Llama`` object."""

    def __init__(self) -> None:
        self._llm = None
        self._template: ChatTemplate | None = None
        self._info: EngineInfo | None = None
        self._n_batch = 256

    @property
    def info(self) -> EngineInfo | None:
        return self._info

    def load(self, path: Path, settings: Settings) -> EngineInfo:
        path = Path(path)
        started = time.perf_counter()
        try:
            gguf = read_gguf(path)
        except FileNotFoundError:
            raise ModelError(f"Model file {path} does not exist.") from None
        except GGUFError as exc:
            raise ModelError(str(exc)) from None
        self.unload()

        try:
            build = llama_build()
        except RuntimeError as exc:  # a distribution build missing its backend modules
            raise ModelError(str(exc)) from None
        plan = plan_offload(settings.n_gpu_layers, build)
        n_threads = settings.n_threads or physical_cores()
        trained = gguf.context_length or settings.n_ctx
        n_ctx = min(settings.n_ctx, trained)
        self._n_batch = min(settings.n_batch, n_ctx)
        template = ChatTemplate.from_gguf(gguf)

        from llama_cpp import Llama  # heavy import: only on the thread that loads

        log.info("Loading %s (ctx %d, threads %d, gpu layers %d)", path, n_ctx, n_threads,
                 plan.n_gpu_layers)
        try:
            self._llm = Llama(
                model_path=str(path), n_ctx=n_ctx, n_batch=self._n_batch,
                n_threads=n_threads, n_threads_batch=n_threads,
                n_gpu_layers=plan.n_gpu_layers, verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            self._llm = None
            raise ModelError(f"llama.cpp could not load {path.name}: {exc}") from None
        self._template = template
        if plan.n_gpu_layers != 0:
            device = f"GPU ({build.backend}, " + (
                "all layers" if plan.n_gpu_layers < 0 else f"{plan.n_gpu_layers} layers") + ")"
        else:
            device = f"CPU ({cpu_simd_level()}, {n_threads} threads)"
        self._info = EngineInfo(
            model_path=str(path), model_name=gguf.name or path.stem,
            architecture=gguf.architecture or "?", quantization=gguf.quantization or "?",
            n_ctx=n_ctx, n_threads=n_threads, n_gpu_layers=plan.n_gpu_layers, device=device,
            offload_reason=plan.reason, chat_template=template.source,
            load_seconds=time.perf_counter() - started,
        )
        return self._info

    def unload(self) -> None:
        if self._llm is not None:
            try:
                self._llm.close()
            except AttributeError:  # older llama-cpp-python without close()
                pass
        self._llm = None
        self._info = None

    def _require(self):
        if self._llm is None or self._template is None:
            raise EngineNotLoadedError("No model is loaded.")
        return self._llm, self._template

    def tokenize_chat(self, messages: Sequence[ChatMessage]) -> list[int]:
        llm, template = self._require()
        prompt = template.render(messages)
        # The template may already start with the BOS text; don't add a second one.
        add_bos = not (template.bos_token and prompt.startswith(template.bos_token))
        return llm.tokenize(prompt.encode("utf-8"), add_bos=add_bos, special=True)

    def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        return len(self.tokenize_chat(messages))

    def generate(self, messages: Sequence[ChatMessage], params: SamplingParams, *,
                 stop: StopFlag) -> Iterator[GenEvent]:
        llm, _ = self._require()
        from llama_cpp import llama_vocab_is_eog as is_eog

        started = time.perf_counter()
        tokens = self.tokenize_chat(messages)
        n_ctx = llm.n_ctx()
        if len(tokens) + params.max_tokens > n_ctx:
            raise EngineError(f"The prompt ({len(tokens)} tokens) and the draft "
                              f"({params.max_tokens} tokens) do not fit the context "
                              f"({n_ctx} tokens).")

        # Reuse what the previous request left in the KV cache (Regenerate keeps the
        # whole prompt), then read the rest batch by batch, checking Stop in between.
        # The last prompt token is left for generate(), which needs its logits.
        reused = common_prefix(llm.input_ids[:llm.n_tokens].tolist(), tokens[:-1])
        if reused and not llm._ctx.kv_cache_seq_rm(-1, reused, -1):
            reused = 0  # this model's cache cannot be cut (recurrent models): read it all
        if reused == 0:
            llm.reset()
        llm.n_tokens = reused
        pending = tokens[reused:-1]
        yield PromptProgress(done=reused, total=len(tokens), reused=reused)
        for start in range(0, len(pending), self._n_batch):
            if stop.is_set():
                yield self._done("", 0, tokens, reused, started, None, "cancelled")
                return
            batch = pending[start:start + self._n_batch]
            llm.eval(batch)
            yield PromptProgress(done=reused + start + len(batch), total=len(tokens),
                                 reused=reused)
        if stop.is_set():
            yield self._done("", 0, tokens, reused, started, None, "cancelled")
            return

        llm.set_seed(params.seed if params.seed >= 0 else secrets.randbits(31))
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        parts: list[str] = []
        n_generated = 0
        first_token_at: float | None = None
        reason = "length"
        for token in llm.generate(tokens, top_k=40, top_p=params.top_p, min_p=0.05,
                                  temp=params.temperature, repeat_penalty=1.05, reset=True):
            if stop.is_set():
                reason = "cancelled"
                break
            if first_token_at is None:
                first_token_at = time.perf_counter()
            if is_eog(llm._model.vocab, token):
                reason = "stop"
                break
            n_generated += 1
            text = decoder.decode(llm.detokenize([token], special=False))
            if text:
                parts.append(text)
                yield TokenDelta(text)
            if n_generated >= params.max_tokens:
                reason = "length"
                break
        tail = decoder.decode(b"", final=True)
        if tail:
            parts.append(tail)
            yield TokenDelta(tail)
        yield self._done("".join(parts), n_generated, tokens, reused, started, first_token_at,
                         reason)

    @staticmethod
    def _done(text: str, n: int, tokens: list[int], reused: int, started: float,
              first_token_at: float | None, reason: str) -> GenerationDone:
        now = time.perf_counter()
        return GenerationDone(
            text=text, tokens=n, prompt_tokens=len(tokens), reused_tokens=reused,
            prompt_seconds=(first_token_at or now) - started, seconds=now - started,
            stop_reason=reason)

