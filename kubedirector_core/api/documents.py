"""Reading resource documents from YAML or JSON text, with problems instead of tracebacks.

A file may hold several YAML documents (``---``), one JSON document, or a
JSON file whose indentation YAML would refuse (tabs): each is read. Empty
documents (a file of comments, a trailing ``---``) are skipped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from kubedirector_core.problems import Problem

#: File name endings read as resource documents.
DOCUMENT_SUFFIXES = (".yaml", ".yml", ".json")


_TOO_DEEP = Problem("", "the document is nested too deeply to be read")


@dataclass(frozen=True)
class Document:
    """One document of a file: where it came from and what it holds."""

    source: str
    #: Position of the document in its file, from 1.
    index: int
    body: object


def _yaml_problem(error: yaml.YAMLError) -> Problem:
    mark = getattr(error, "problem_mark", None)
    reason = getattr(error, "problem", None) or str(error)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return Problem("", f"not valid YAML: {where}{reason}")


def parse_documents(text: str, source: str) -> tuple[list[Document], list[Problem]]:
    """Parse YAML or JSON text into documents; problems say where the text is broken."""
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            return [Document(source, 1, json.loads(text))], []
        except json.JSONDecodeError as json_error:
            json_problem = Problem(
                "",
                f"not valid JSON: line {json_error.lineno}, column {json_error.colno}: "
                f"{json_error.msg}",
            )
            if source.endswith(".json"):
                return [], [json_problem]
        except RecursionError:
            return [], [_TOO_DEEP]
    try:
        bodies = list(yaml.safe_load_all(text))
    except yaml.YAMLError as error:
        return [], [_yaml_problem(error)]
    except RecursionError:
        return [], [_TOO_DEEP]
    documents = [
        Document(source, index, body)
        for index, body in enumerate(bodies, start=1)
        if body is not None
    ]
    if not documents:
        return [], [Problem("", "holds no document")]
    return documents, []


def read_documents(path: Path) -> tuple[list[Document], list[Problem]]:
    """Read every document of a file; a file that cannot be read is a problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return [], [Problem("", f"cannot be read: {error}")]
    return parse_documents(text, str(path))
