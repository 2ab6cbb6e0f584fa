"""Reading validation errors: one rule for every edge that reports them (config, notebook
parameters, artifacts, fault files, API bodies).

Pure: takes the list of error dicts pydantic's ``ValidationError.errors()`` returns (``loc``,
``type``, ``msg``, ``input``) and gives one :class:`Problem` each; each edge words them for its
readers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

#: Leading location parts that name where a value came from (an HTTP request's part), not a field.
REQUEST_PARTS = ("body", "query", "header", "path")


@dataclass(frozen=True)
class Problem:
    """One invalid value: ``where`` is its dotted location (``""`` for the whole document)."""

    where: str
    kind: Literal["unknown", "missing", "invalid"]
    message: str
    value: Any = None


def problems(errors: Iterable[Mapping[str, Any]], strip: tuple[str, ...] = ()) -> list[Problem]:
    """The problems of pydantic-style ``errors``; a first location part in ``strip`` is dropped."""
    out = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ())]
        if loc and loc[0] in strip:
            loc = loc[1:]
        kind = {"extra_forbidden": "unknown", "missing": "missing"}.get(str(err.get("type")), "invalid")
        out.append(Problem(".".join(loc), kind, str(err.get("msg", "invalid")), err.get("input")))
    return out


def one_line(errors: Iterable[Mapping[str, Any]], whole: str = "<root>") -> str:
    """``"a.b: message; c: message"``, the whole document named ``whole``."""
    return "; ".join(f"{p.where or whole}: {p.message}" for p in problems(errors))
