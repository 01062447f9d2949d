"""Config problems, each tied to the file and line a person has to edit."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from monitor.providers.sanitize import escape_controls
from monitor.redact import redact


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a config file. `line` is 1-based; 0 means the whole file."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}: {self.message}"
        return f"{self.file}: {self.message}"


class ConfigError(Exception):
    """A config that does not load: every problem found, one per line, in file order."""

    def __init__(self, issues: Iterable[ConfigIssue]) -> None:
        # Redacted and escaped here, at the one exit, so no path can show a secret
        # or break the one-line-per-problem output with a key's own newline.
        masked = (
            replace(issue, message=escape_controls(redact(issue.message))) for issue in issues
        )
        self.issues = sorted(dict.fromkeys(masked), key=lambda issue: issue.line)
        super().__init__("\n".join(str(issue) for issue in self.issues))
