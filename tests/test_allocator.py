"""``auroractl`` and the Dask workers keep Arrow's freed memory; importing aurora sets nothing."""

from __future__ import annotations

import os
import subprocess
import sys

from aurora.allocator import KEEP_FREED_MEMORY


def _python(code: str, **env: str) -> list[str]:
    """stdout words of ``code`` run in a fresh interpreter, with no allocator variable inherited
    but ``env``."""
    clean = {k: v for k, v in os.environ.items() if k not in KEEP_FREED_MEMORY}
    out = subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True,
                         text=True, check=True)
    return out.stdout.split()


def test_set_before_pyarrow_loads_it_takes_effect():
    code = ("import os; from aurora.allocator import keep_freed_memory as k; r = k(); "
            "import pyarrow; print(r, os.environ['MIMALLOC_PURGE_DELAY'])")
    assert _python(code) == ["True", "-1"]


def test_after_pyarrow_loaded_nothing_is_changed():
    code = ("import os, pyarrow; from aurora.allocator import keep_freed_memory as k; "
            "print(k(), os.environ.get('MIMALLOC_PURGE_DELAY'))")
    assert _python(code) == ["False", "None"]


def test_a_value_the_user_set_wins():
    code = ("import os; from aurora.allocator import keep_freed_memory as k; "
            "print(k(), os.environ['MIMALLOC_PURGE_DELAY'])")
    assert _python(code, MIMALLOC_PURGE_DELAY="250") == ["True", "250"]


def test_auroractl_sets_it_before_its_command_loads_pyarrow():
    code = ("import os, sys; from aurora.cli import main; before = 'pyarrow' in sys.modules\n"
            "try:\n    main(['features', '--help'])\nexcept SystemExit:\n    pass\n"
            "print(before, 'pyarrow' in sys.modules, os.environ.get('MIMALLOC_PURGE_DELAY'))")
    assert _python(code)[-3:] == ["False", "True", "-1"]
