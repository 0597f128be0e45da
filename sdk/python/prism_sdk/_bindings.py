"""The contract's Python bindings (`wit_world`), generated from `wit/`.

Inside a component, componentize-py provides them. Natively (unit tests),
they are generated once per contract into the user's cache directory with
`componentize-py bindings` and put on `sys.path`.
"""

import hashlib
import os
import pathlib
import subprocess
import sys


def _wit_dir() -> pathlib.Path:
    given = os.environ.get("PRISM_WIT")
    if given:
        return pathlib.Path(given)
    # sdk/python/prism_sdk/_bindings.py -> sdk/wit
    return pathlib.Path(__file__).resolve().parent.parent.parent / "wit"


def _cache_dir() -> pathlib.Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "prism" / "python-bindings"


def ensure() -> None:
    """Makes `import wit_world` work, generating the bindings if needed."""
    try:
        import wit_world  # noqa: F401  (inside a component, or already on the path)

        return
    except ImportError:
        pass
    wit = _wit_dir()
    digest = hashlib.sha256()
    for path in sorted(wit.glob("*.wit")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    out = _cache_dir() / digest.hexdigest()[:16]
    if not (out / "wit_world" / "__init__.py").is_file():
        tmp = out.with_name(out.name + f".tmp{os.getpid()}")
        subprocess.run(
            ["componentize-py", "-d", str(wit), "-w", "plugin", "bindings", str(tmp)],
            check=True,
        )
        try:
            tmp.rename(out)
        except OSError:
            pass  # another process made it first
    sys.path.insert(0, str(out))
