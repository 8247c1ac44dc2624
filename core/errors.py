"""Typed errors raised by ``core``.

The edges (CLI, GUI) turn these into messages for people; nothing matches on
message text.  Every error carries a message that can be shown as it is.
"""

from __future__ import annotations


class KefuError(Exception):
    """Base class for every error ``core`` raises on purpose."""


class ConfigError(KefuError):
    """Settings or paths that cannot be used."""


class ModelError(KefuError):
    """A model file that cannot be found, read, verified or loaded."""


class ModelNotFoundError(ModelError):
    """No usable model at the configured place."""


class ModelPackError(ModelError):
    """A packaged model that cannot be assembled or fails verification."""


class TicketError(KefuError):
    """A ticket file or ticket that cannot be used for drafting."""


class EngineError(KefuError):
    """The inference engine failed while loading or generating."""


class EngineNotLoadedError(EngineError):
    """A draft was requested before a model was loaded."""


class KbError(KefuError):
    """A knowledge-base document, folder or index that cannot be used."""


class EmbedderError(KbError):
    """The embedding model cannot be found or loaded."""


class MailError(KefuError):
    """A mail server that cannot be reached, refuses us, or drops the connection."""


class SecretStoreError(KefuError):
    """The OS keyring cannot store or read a credential."""


class CatalogError(KefuError):
    """A product catalog or order file cannot be read, or a value in it is invalid."""
