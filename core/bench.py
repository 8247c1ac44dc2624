"""``kefu bench``: speed and memory of drafting on this machine.

Measures, for one model and the machine's threads: model load time; time to
first token cold and on Regenerate (prompt prefix re-used); decode tokens/s
through Kefu's engine and through bare llama-cpp-python on the same prompt
tokens; peak memory; and, when given a UI probe, the longest stall of the Qt
event loop while a draft streams.  Results go to stdout; docs/benchmarks.md
records them.
"""

from __future__ import annotations

import json
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Callable

from core.drafting import DraftResult, draft
from core.engine import LlamaEngine, StopFlag
from core.hardware import cpu_name, llama_build, physical_cores
from core.models import default_model_path
from core.tickets import demo_ticket


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _bare_decode(model: Path, tokens: list[int], *, n_ctx: int, n_threads: int,
                 max_tokens: int, temperature: float, top_p: float, seed: int) -> dict:
    """The same prompt through llama-cpp-python's own streaming completion."""
    from llama_cpp import Llama

    llm = Llama(model_path=str(model), n_ctx=n_ctx, n_threads=n_threads,
                n_threads_batch=n_threads, n_batch=256, n_gpu_layers=0, verbose=False,
                seed=seed)
    started = time.perf_counter()
    first = None
    count = 0
    for _ in llm.create_completion(prompt=tokens, max_tokens=max_tokens, temperature=temperature,
                                   top_p=top_p, top_k=40, min_p=0.05, repeat_penalty=1.05,
                                   seed=seed, stream=True):
        count += 1
        if first is None:
            first = time.perf_counter()
    end = time.perf_counter()
    llm.close()
    decode = end - (first or end)
    return {"tokens": count, "first_token_seconds": (first or end) - started,
            "tokens_per_second": (count - 1) / decode if decode > 0 and count > 1 else 0.0}


def _run_draft(engine: LlamaEngine, ticket, settings, max_tokens: int) -> DraftResult:
    result = None
    for event in draft(engine, ticket, settings, stop=StopFlag(), max_tokens=max_tokens,
                       seed=42):
        if isinstance(event, DraftResult):
            result = event
    assert result is not None
    return result


def run_bench(ctx, *, measure_ui_stall: Callable | None = None) -> int:
    args = ctx.args
    settings = ctx.settings.replace(seed=42)
    model = Path(args.model) if args.model else default_model_path(ctx.workspace,
                                                                    settings.model_path)
    ticket = demo_ticket(1)
    report: dict = {"machine": {"cpu": cpu_name(), "physical_cores": physical_cores(),
                                "python": platform.python_version(),
                                "llama_cpp_python": llama_build().version},
                    "model": model.name, "max_tokens": args.max_tokens}

    engine = LlamaEngine()
    info = engine.load(model, settings)
    report["device"] = info.device
    report["load_seconds"] = round(info.load_seconds, 2)
    cold = _run_draft(engine, ticket, settings, args.max_tokens)
    warm = _run_draft(engine, ticket, settings, args.max_tokens)
    tokens = engine.tokenize_chat(_prompt_for(engine, ticket, settings, args.max_tokens))
    engine.unload()
    report["prompt_tokens"] = cold.prompt_tokens
    report["kefu"] = {"tokens": cold.tokens, "tokens_per_second": round(cold.tokens_per_second, 2),
                      "first_token_cold_seconds": round(cold.first_token_seconds, 3),
                      "first_token_regenerate_seconds": round(warm.first_token_seconds, 3),
                      "regenerate_reused_tokens": warm.reused_tokens,
                      "regenerate_tokens_per_second": round(warm.tokens_per_second, 2)}
    bare = _bare_decode(model, tokens, n_ctx=info.n_ctx, n_threads=info.n_threads,
                        max_tokens=args.max_tokens, temperature=settings.temperature,
                        top_p=settings.top_p, seed=42)
    report["bare_llama_cpp_python"] = {k: round(v, 3) for k, v in bare.items()}
    if bare["tokens_per_second"]:
        report["decode_ratio"] = round(cold.tokens_per_second / bare["tokens_per_second"], 3)
    if measure_ui_stall is not None:
        report["ui"] = measure_ui_stall(model=model, settings=settings, ticket=ticket,
                                        max_tokens=args.max_tokens, workspace=ctx.workspace)
    report["peak_rss_mb"] = round(_peak_rss_mb(), 1)

    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return 0
    k, b = report["kefu"], report["bare_llama_cpp_python"]
    lines = [
        f"Model {report['model']} on {report['device']} ({report['machine']['cpu']})",
        f"Load: {report['load_seconds']} s; prompt {report['prompt_tokens']} tokens",
        f"Decode: Kefu {k['tokens_per_second']} tokens/s, bare llama-cpp-python "
        f"{b['tokens_per_second']} tokens/s, ratio {report.get('decode_ratio')}",
        f"First token: cold {k['first_token_cold_seconds']} s, Regenerate "
        f"{k['first_token_regenerate_seconds']} s ({k['regenerate_reused_tokens']} tokens "
        f"reused)",
        f"Peak memory: {report['peak_rss_mb']} MB",
    ]
    if "ui" in report:
        ui = report["ui"]
        lines.append(f"Qt event loop while streaming: longest stall {ui['max_stall_ms']} ms, "
                     f"p99 {ui['p99_stall_ms']} ms over {ui['ticks']} ticks")
    print("\n".join(lines))
    return 0


def _prompt_for(engine: LlamaEngine, ticket, settings, max_tokens: int):
    from core.drafting import CONTEXT_MARGIN
    from core.prompt import build_prompt

    budget = engine.info.n_ctx - max_tokens - CONTEXT_MARGIN if engine.info else 0
    return build_prompt(ticket, settings, budget_tokens=budget,
                        count_tokens=engine.count_tokens).messages
