"""Errors of the flows package (orchestration, CLI, settings, digest mail, serve).

    CrwatchError (extractors.errors)
     └── FlowError
          ├── ConfigError          terminal  a setting is missing, malformed, mistyped (ValueError)
          ├── RunLockBusy          transient another run held the writer lock past our wait
          ├── DigestError          terminal  the digest cannot be produced as asked
          ├── LabelError           terminal  a correction or labels file cannot be used (ValueError)
          ├── PrefectApiError      terminal  the temporary Prefect server did not start
          ├── ServeError           terminal  the Prefect server cannot be started or reached
          ├── MaintenanceFailed    terminal  a maintain step failed (the other steps ran)
          └── MailError            terminal  digest mail problems
               ├── HeaderValueError  terminal  an unsafe or malformed header value (ValueError)
               ├── SmtpConfigError   terminal  SMTP settings that cannot work as given
               └── DeliveryError     per instance: timeouts, refused connections and 4xx
                                     replies are transient; 5xx and refused recipients are not

The builtin bases are kept, so existing `except` clauses keep their meaning: ConfigError and
LabelError are ValueErrors, HeaderValueError is both, the others are RuntimeErrors.
Callers may keep importing each class from the module that raises it (`flows.settings`,
`flows.runtime.runlock`, `flows.digest.flow`, `flows.classify.corrections`,
`flows.runtime.prefect_api`, `flows.ops.serve`,
`flows.digest.mail`). Transient vs terminal: see `extractors.errors`.
"""

from __future__ import annotations

from extractors.errors import CrwatchError, TransientError


class FlowError(CrwatchError):
    """Base of the errors of the flows package (terminal unless a subclass says otherwise)."""


class ConfigError(FlowError, ValueError):
    """A configuration value is missing, malformed or of the wrong type."""


class RunLockBusy(TransientError, FlowError, RuntimeError):
    """Another run held the writer lock for longer than the wait allowed."""


class DigestError(FlowError, RuntimeError):
    """The digest cannot be produced as asked (bad week, no warehouse)."""


class LabelError(FlowError, ValueError):
    """A correction or a labels file that cannot be used, with what to fix."""


class PrefectApiError(FlowError, RuntimeError):
    """The temporary Prefect server did not start (with the reason and the server's output)."""


class ServeError(FlowError, RuntimeError):
    """The Prefect server could not be started, reached or kept alive."""


class MaintenanceFailed(FlowError, RuntimeError):
    """One or more maintain steps failed; the message names each step and its error."""


class MailError(FlowError, RuntimeError):
    """Base class for digest mail problems."""


class HeaderValueError(MailError, ValueError):
    """A header value would break the message (line breaks, encoded line breaks, bad address)."""


class SmtpConfigError(MailError):
    """SMTP settings that cannot work as given."""


class DeliveryError(MailError):
    """The SMTP server was unreachable, too slow, or refused the message."""

    def __init__(self, message: str, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient
