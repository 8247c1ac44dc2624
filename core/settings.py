"""Typed settings, each declared once with its type, default, bounds and help.

Stored as JSON under the workspace's config folder with a schema version.  A
value that is missing, of the wrong type or out of bounds falls back to its
default with a logged warning: a damaged settings file never stops the app, and
the damaged file is kept beside the new one for the user to inspect.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

from core.errors import ConfigError
from core.fsutil import atomic_write_json

log = logging.getLogger("kefu.settings")

SCHEMA_VERSION = 1

DEFAULT_PERSONA = (
    "You are a customer-service agent of {store}, an online store. You are warm, "
    "precise and brief. You write as the store, in the first person plural."
)

DEFAULT_RULES = "\n".join(
    [
        "Answer every question the customer asked, in the order asked.",
        "Never promise refunds, compensation, delivery dates or exceptions to policy; "
        "say the agent will check and confirm.",
        "Never invent order details, tracking numbers, prices or policies; where a fact is "
        "unknown, write a placeholder in square brackets such as [tracking number].",
        "If the customer is upset, acknowledge it and apologise once, sincerely.",
        "Keep it under 150 words; no subject line; end with the agent's signature placeholder.",
    ]
)


def setting(default: Any, help: str, *, minimum: float | None = None,
            maximum: float | None = None, choices: tuple[Any, ...] | None = None,
            check: Callable[[Any], bool] | None = None) -> Any:
    """Declare one setting: its default, one line of help and its bounds."""
    return field(default=default, metadata={
        "help": help, "minimum": minimum, "maximum": maximum,
        "choices": choices, "check": check,
    })


def _gpu_layers_ok(value: Any) -> bool:
    if value == "auto":
        return True
    try:
        return int(value) >= -1
    except (TypeError, ValueError):
        return False


@dataclass(frozen=True)
class Settings:
    """All user settings.  Frozen: change one with ``replace``."""

    model_path: str = setting(
        "", "GGUF model file to draft with; empty picks the default model in the models folders.")
    n_ctx: int = setting(
        4096, "Context window in tokens; longer threads are trimmed oldest-first to fit.",
        minimum=512, maximum=131072)
    n_gpu_layers: str = setting(
        "auto", "Layers to offload to the GPU: 'auto' (all, when the llama.cpp build has a GPU "
        "backend), 0 for CPU only, -1 for all, or a number.", check=_gpu_layers_ok)
    n_threads: int = setting(
        0, "CPU threads for generation; 0 uses the number of physical cores.",
        minimum=0, maximum=512)
    n_batch: int = setting(
        256, "Prompt tokens read per batch; Stop is checked between batches.",
        minimum=8, maximum=4096)
    max_tokens: int = setting(
        400, "Longest draft, in tokens.", minimum=16, maximum=4096)
    temperature: float = setting(
        0.3, "Sampling temperature: lower is more predictable.", minimum=0.0, maximum=2.0)
    top_p: float = setting(
        0.9, "Nucleus sampling: keep the most likely tokens up to this probability mass.",
        minimum=0.05, maximum=1.0)
    seed: int = setting(
        -1, "Random seed for sampling; -1 picks a new one for every draft.",
        minimum=-1, maximum=2**31 - 1)
    kb_embedder: str = setting(
        "auto", "Embedding model for the knowledge base: 'auto' (the best installed: "
        "multilingual-e5-small paired with the English model setup fine-tunes for "
        "customer-service search, else with the stock one), "
        "'multilingual-e5-small+all-MiniLM-L6-v2-cs', 'multilingual-e5-small+all-MiniLM-L6-v2', "
        "'multilingual-e5-small', 'all-MiniLM-L6-v2-cs', 'all-MiniLM-L6-v2', or a "
        "sentence-transformers folder.")
    kb_results: int = setting(
        4, "Knowledge-base passages given to each draft as numbered sources.",
        minimum=0, maximum=10)
    kb_translate: bool = setting(
        True, "When the knowledge base holds both Chinese and English passages, the model "
        "first translates the ticket's question (a second or two) so that passages in the "
        "other language are found by their meaning, not only by glossary keywords.")
    products_embedder: str = setting(
        "multilingual-e5-small", "Embedding model for product search: 'multilingual-e5-small' "
        "(Chinese questions find English products and the reverse), 'all-MiniLM-L6-v2', "
        "'none' (keyword search only), or a sentence-transformers folder.")
    product_suggestions: int = setting(
        3, "Products suggested beside each ticket; 0 turns suggestions off.",
        minimum=0, maximum=10)
    catalog_currency: str = setting(
        "", "Currency of catalog and order prices written without one (USD, CNY, EUR...), "
        "as in Shopify's exports; empty shows such prices without a sign.")
    draft_mentions_product: bool = setting(
        False, "Let the draft mention the top suggested product when the conversation fits "
        "(never for complaints, escalations or refunds).")
    store_name: str = setting(
        "Lumen Home & Living", "The store's name, as the drafts should write it.")
    agent_name: str = setting(
        "", "Name the drafts are signed with; empty leaves a [your name] placeholder.")
    persona: str = setting(
        DEFAULT_PERSONA, "Who the drafts speak as; {store} is replaced by the store's name.")
    reply_rules: str = setting(
        DEFAULT_RULES, "Rules every draft follows, one per line.")
    # The store's mailbox.  The password is never here: it lives in the OS keyring
    # (`kefu mail password`, or the account dialog).
    mail_address: str = setting(
        "", "The store's support address: replies are sent from it (empty: no mailbox).")
    mail_username: str = setting("", "Login name for IMAP and SMTP; empty uses the address.")
    imap_host: str = setting("", "IMAP server, for example imap.example.com.")
    imap_port: int = setting(993, "IMAP port (993 for TLS, 143 for STARTTLS).",
                             minimum=1, maximum=65535)
    imap_security: str = setting("tls", "IMAP connection security.",
                                 choices=("tls", "starttls"))
    imap_folder: str = setting("INBOX", "The folder customer mail arrives in.")
    sent_folder: str = setting("Sent", "The folder a copy of each sent reply goes to.")
    smtp_host: str = setting("", "SMTP server; empty uses the IMAP server.")
    smtp_port: int = setting(465, "SMTP port (465 for TLS, 587 for STARTTLS).",
                             minimum=1, maximum=65535)
    smtp_security: str = setting("tls", "SMTP connection security.",
                                 choices=("tls", "starttls"))
    mail_ca_file: str = setting(
        "", "A CA certificate file to trust besides the system's (a company mail server "
        "with its own certificate authority); certificates are always verified.")
    mail_poll_seconds: int = setting(60, "How often the inbox is checked, in seconds.",
                                     minimum=15, maximum=3600)

    def replace(self, **changes: Any) -> "Settings":
        for name, value in changes.items():
            _validate(_field(name), value)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def describe() -> list[dict[str, Any]]:
    """Every setting with its type, default, bounds and help (for docs and ``kefu doctor``)."""
    out = []
    for f in fields(Settings):
        meta = f.metadata
        out.append({
            "name": f.name, "type": f.type if isinstance(f.type, str) else f.type.__name__,
            "default": f.default, "help": meta["help"],
            "minimum": meta["minimum"], "maximum": meta["maximum"],
        })
    return out


def _field(name: str) -> dataclasses.Field:
    for f in fields(Settings):
        if f.name == name:
            return f
    raise ConfigError(f"Unknown setting {name!r}.")


_TYPES = {"str": str, "int": int, "float": float, "bool": bool}


def _validate(f: dataclasses.Field, value: Any) -> None:
    expected = _TYPES[f.type] if isinstance(f.type, str) else f.type
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise ConfigError(f"Setting {f.name!r} must be {expected.__name__}, not {value!r}.")
    meta = f.metadata
    if meta["minimum"] is not None and value < meta["minimum"]:
        raise ConfigError(f"Setting {f.name!r} must be at least {meta['minimum']}, not {value!r}.")
    if meta["maximum"] is not None and value > meta["maximum"]:
        raise ConfigError(f"Setting {f.name!r} must be at most {meta['maximum']}, not {value!r}.")
    if meta["choices"] is not None and value not in meta["choices"]:
        raise ConfigError(f"Setting {f.name!r} must be one of {meta['choices']}, not {value!r}.")
    if meta["check"] is not None and not meta["check"](value):
        raise ConfigError(f"Setting {f.name!r} has an invalid value {value!r}.")


# Each migration takes the stored values of schema N and returns those of N + 1.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {
    # Schema 0 was never released; it stored everything at the top level.
    0: lambda values: dict(values),
}


def from_dict(values: dict[str, Any]) -> Settings:
    """Build settings from stored values, keeping defaults for anything unusable."""
    good: dict[str, Any] = {}
    known = {f.name: f for f in fields(Settings)}
    for name, value in values.items():
        f = known.get(name)
        if f is None:
            log.warning("Ignoring unknown setting %r", name)
            continue
        try:
            _validate(f, value)
        except ConfigError as exc:
            log.warning("%s Using the default %r.", exc, f.default)
            continue
        good[name] = float(value) if f.type in ("float", float) else value
    return Settings(**good)


def load(path: Path) -> Settings:
    """Read settings; a missing file gives the defaults, a damaged one is kept aside."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Settings()
    except OSError as exc:
        log.warning("Cannot read settings %s (%s); using defaults", path, exc)
        return Settings()
    try:
        doc = json.loads(raw)
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
        schema = int(doc.get("schema", 0))
        values = doc.get("values", doc if schema == 0 else {})
        if not isinstance(values, dict):
            raise ValueError("'values' is not an object")
    except (ValueError, TypeError) as exc:
        backup = path.with_suffix(".damaged.json")
        path.replace(backup)
        log.warning("Settings file %s is damaged (%s); kept as %s, using defaults",
                    path, exc, backup)
        return Settings()
    if schema > SCHEMA_VERSION:
        log.warning("Settings %s were written by a newer Kefu (schema %d); "
                    "reading what this version understands", path, schema)
    while schema < SCHEMA_VERSION:
        values = MIGRATIONS[schema](values)
        schema += 1
    return from_dict(values)


def save(path: Path, settings: Settings) -> None:
    atomic_write_json(path, {"schema": SCHEMA_VERSION, "values": settings.to_dict()})
