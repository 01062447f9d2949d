"""Throwaway virtual environments for tests that install a package: they see
the same dependencies as the interpreter running the tests (a fresh venv, or
a system-wide install), without the base interpreter's site-packages, which
on a clean machine hold none of them."""

from __future__ import annotations

import sys
import sysconfig
import venv
from pathlib import Path


def dependency_dirs() -> list[str]:
    """The site-packages directories this interpreter imports from."""
    found = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    found += [entry for entry in sys.path if entry.endswith(("site-packages", "dist-packages"))]
    return list(dict.fromkeys(entry for entry in found if Path(entry).is_dir()))


def make_venv(root: Path) -> Path:
    """A virtualenv at `root` whose Python also imports this interpreter's
    dependencies (listed after its own site-packages, so what is installed
    into it wins); returns its python."""
    venv.create(root, system_site_packages=False, with_pip=False)
    python = root / "bin" / "python"
    (site_packages,) = root.glob("lib/python*/site-packages")
    # Plain paths in a .pth file: added to sys.path, but the .pth files in them
    # (an editable install of loadwatch, say) are not run.
    (site_packages / "_outer_dependencies.pth").write_text("\n".join(dependency_dirs()) + "\n")
    return python
