"""Errors raised by the library.

Every error derives from ``MultilevelError`` and is either transient (worth retrying later: the network, a busy
server, a lock) or terminal (retrying cannot help: bad input, a failed check, an unknown dataset). The CLI maps
them to exit codes, so that Argo's ``retryStrategy`` retries only what may succeed next time::

    MultilevelError
    ├── TransientError        exit 75 (EX_TEMPFAIL)
    │   ├── ApiUnavailable        network error, timeout, 429, 5xx, "sorry" page, truncated body
    │   ├── VersionDrift          the dataset was republished during the run (parts of two versions)
    │   └── WarehouseBusy         lock timeout, serialization failure, dropped connection
    └── TerminalError         exit 1
        ├── ConfigError           bad settings or dataset configuration
        ├── ApiError              the API answered with an error body (4xx)
        ├── ExtractionTooBig      a 413 that cannot be split any further
        ├── ParseError            a body that is not the JSON-stat / SDMX we expect
        ├── StructureChanged      the dataset's dimensions differ from the plan or the loaded table
        ├── ValidationFailed      a pandera check failed (names the rows and the rule)
        ├── StageError            a staged object is missing, changed or corrupt
        ├── WarehouseError        SQL failed for a reason a retry will not fix
        └── InputFileError        a source file (e.g. an ESS .dta) is unreadable or has the wrong shape
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_TERMINAL = 1
EXIT_TRANSIENT = 75


class MultilevelError(Exception):
    """Base of every error the library raises on purpose."""

    exit_code = EXIT_TERMINAL


class TransientError(MultilevelError):
    """A failure that may go away if the same step runs again later."""

    exit_code = EXIT_TRANSIENT


class TerminalError(MultilevelError):
    """A failure that running the same step again will not fix."""

    exit_code = EXIT_TERMINAL


class ApiUnavailable(TransientError):
    """The Eurostat API could not be reached or answered with a transient failure."""


class VersionDrift(TransientError):
    """Eurostat published a new version of a dataset while a run was downloading it: the run is abandoned."""


class WarehouseBusy(TransientError):
    """The warehouse is locked, busy or dropped the connection."""


class ConfigError(TerminalError):
    """Settings or the dataset configuration are wrong."""


class ApiError(TerminalError):
    """The Eurostat API answered a request with an error body."""

    def __init__(self, message: str, *, status: int | None = None, api_id: int | None = None):
        super().__init__(message)
        self.status = status
        self.api_id = api_id


class ExtractionTooBig(TerminalError):
    """The API refused a request as too large (413) and it cannot be split further."""


class ParseError(TerminalError):
    """A response body is not in the expected format."""


class StructureChanged(TerminalError):
    """The dataset's dimensions differ from what was planned or loaded; the message names what changed."""


class ValidationFailed(TerminalError):
    """Data failed a validation rule; the message names the rule and the offending rows."""


class StageError(TerminalError):
    """A staged object is missing, was changed after it was written, or is corrupt."""


class WarehouseError(TerminalError):
    """A warehouse statement failed for a reason that a retry will not fix."""


class DuplicateKey(WarehouseError):
    """A unique index refused a row whose key it holds already (PostgreSQL's current-key index)."""


class InputFileError(TerminalError):
    """An input file is unreadable, truncated or has the wrong structure."""
