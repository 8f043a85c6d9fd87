"""Kubernetes label selectors (``a=b,c!=d,e,!f,g in (x,y),h notin (z)``) as predicates."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

LabelPredicate = Callable[[Mapping[str, str]], bool]

_TERM = re.compile(
    r"\s*(?:(?P<not>!)\s*(?P<absent>[\w./-]+)"
    r"|(?P<key>[\w./-]+)\s*(?:(?P<op>==|=|!=)\s*(?P<value>[\w.-]*)"
    r"|\s+(?P<setop>in|notin)\s*\((?P<values>[^)]*)\))?)\s*(?:,|$)"
)


def parse_selector(selector: str) -> LabelPredicate:
    """A predicate over a label map; ``ValueError`` names the part that is not a selector."""
    terms: list[LabelPredicate] = []
    position = 0
    text = selector.strip()
    while position < len(text):
        match = _TERM.match(text, position)
        if match is None or match.end() == position:
            raise ValueError(f"not a label selector at {text[position:]!r}")
        terms.append(_term(match))
        position = match.end()
    if not terms:
        raise ValueError("the label selector is empty")
    return lambda labels: all(term(labels) for term in terms)


def _term(match: re.Match[str]) -> LabelPredicate:
    if match["absent"]:
        absent = match["absent"]
        return lambda labels: absent not in labels
    key = match["key"]
    if match["op"]:
        value, negated = match["value"], match["op"] == "!="
        return lambda labels: (labels.get(key) == value) != negated
    if match["setop"]:
        values = {v.strip() for v in match["values"].split(",") if v.strip()}
        negated = match["setop"] == "notin"
        return lambda labels: (labels.get(key) in values) != negated
    return lambda labels: key in labels
