"""`${...}` references in config strings: environment variables and secret files.

`${NAME}` is an environment variable, `${NAME:-default}` one with a fallback for
when it is unset or empty, `${file:PATH}` a file's content (stripped), and `$${`
a literal `${`. A relative PATH is taken from `$CREDENTIALS_DIRECTORY` (systemd's
`LoadCredential=`) when set, else from the config file's directory.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from monitor.redact import add_secret

_REFERENCE = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_VARIABLE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?", re.DOTALL)
# Environment values under such names are secrets wherever they land.
_SECRET_NAME = re.compile(r"TOKEN|KEY|SECRET|PASS", re.IGNORECASE)
MAX_SECRET_FILE_BYTES = 64 * 1024  # a secret, a key, a certificate: never more
_FORMS = "use ${NAME}, ${NAME:-default} or ${file:PATH}"


@dataclass
class Expansion:
    """A string with its references replaced, and what went wrong doing it."""

    text: str
    substituted: bool = False
    errors: list[str] = field(default_factory=list)


class Interpolator:
    """Expands references against one environment and one config directory."""

    def __init__(self, environ: Mapping[str, str], config_dir: Path) -> None:
        self._environ = environ
        credentials = environ.get("CREDENTIALS_DIRECTORY")
        self._files_dir = Path(credentials) if credentials else config_dir

    def expand(self, text: str) -> Expansion:
        """`text` with every reference replaced; failed ones are left as written."""
        if "${" not in text:
            return Expansion(text)
        expansion = Expansion(text)

        def substitute(match: re.Match[str]) -> str:
            written = match.group(0)
            if written == "$${":
                return "${"
            if written == "${":
                expansion.errors.append("unterminated '${' (write $${ for a literal ${)")
                return written
            value = self._resolve(match.group(1), expansion.errors)
            if value is None:
                return written
            expansion.substituted = True
            return value

        expansion.text = _REFERENCE.sub(substitute, text)
        return expansion

    def _resolve(self, reference: str, errors: list[str]) -> str | None:
        if reference.startswith("file:"):
            return self._read_file(reference.removeprefix("file:"), errors)
        variable = _VARIABLE.fullmatch(reference)
        if variable is None:
            errors.append(f"'${{{reference}}}' is not a reference ({_FORMS})")
            return None
        name, default = variable.group(1), variable.group(2)
        value = self._environ.get(name)
        if default is not None and not value:
            return default
        if value is None:
            errors.append(f"environment variable {name} is not set")
            return None
        if _SECRET_NAME.search(name):
            add_secret(value)
        return value

    def _read_file(self, name: str, errors: list[str]) -> str | None:
        if not name:
            errors.append(f"'${{file:}}' names no file ({_FORMS})")
            return None
        path = self._files_dir / name  # an absolute name replaces the directory
        try:
            if path.exists() and not path.is_file():  # /dev/zero, a FIFO: endless, or a hang
                errors.append(f"{path} is not a regular file")
                return None
            with path.open("rb") as secret_file:
                content = secret_file.read(MAX_SECRET_FILE_BYTES + 1)
            if len(content) > MAX_SECRET_FILE_BYTES:
                errors.append(f"{path} is larger than {MAX_SECRET_FILE_BYTES} bytes")
                return None
            value = content.decode("utf-8").strip()
        except OSError as exc:
            errors.append(f"cannot read {path}: {exc.strerror or exc}")
            return None
        except UnicodeDecodeError:
            errors.append(f"{path} is not UTF-8 text")
            return None
        add_secret(value)
        return value
