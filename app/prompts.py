"""User-facing wording, loaded from the templates in prompts/ and rendered strictly (a missing variable is an error)."""

from __future__ import annotations

from pathlib import Path

import jinja2

from app.errors import TemplateError

REQUIRED = (
    "abstention.txt",
    "abstention_no_match.txt",
    "abstention_nothing_to_search.txt",
    "answer_versions.txt",
    "cli_answer.txt",
    "cli_abstention.txt",
    "cli_index.txt",
    "cli_eval.txt",
    "chat_answered.txt",
    "chat_abstention.txt",
    "chat_closest.txt",
    "chat_citation.txt",
    "chat_version.txt",
    "chat_truncated.txt",
    "chat_help.txt",
    "chat_not_ready.txt",
    "chat_invalid.txt",
)


class Prompts:
    """The templates of one prompts/ folder, parsed once."""

    def __init__(self, environment: jinja2.Environment) -> None:
        self.environment = environment

    @classmethod
    def load(cls, folder: Path) -> Prompts:
        missing = [name for name in REQUIRED if not (folder / name).is_file()]
        if missing:
            raise TemplateError(f"missing wording template(s) in {folder}: {', '.join(missing)}")
        environment = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(folder)),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=False,
            autoescape=False,
        )
        prompts = cls(environment)
        for name in REQUIRED:  # parse now so a broken template fails at start-up, not on a request
            prompts.template(name)
        return prompts

    def template(self, name: str) -> jinja2.Template:
        try:
            return self.environment.get_template(name)
        except jinja2.TemplateError as exc:
            raise TemplateError(f"wording template {name}: {exc}") from exc

    def render(self, name: str, **values: object) -> str:
        try:
            return self.template(name).render(**values).strip()
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"wording template {name}: {exc}") from exc
