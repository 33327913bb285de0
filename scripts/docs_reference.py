"""The guide's reference pages, written from the code at every `make docs`, so they cannot
drift: every CLI command with its options (from the argparse parser), every config key with
its type, default, accepted values and meaning (from the config dataclasses, their rules and
the comment beside each field), and every model with its config class and capabilities.

Used as an MkDocs hook (mkdocs.yml: `hooks: [scripts/docs_reference.py]`); also runnable
alone to print one page: `python scripts/docs_reference.py cli|config|models`.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import sys
import typing
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the test and tutorial pages' modules, beside this one
import docs_tests  # noqa: E402  (MkDocs restores sys.path once a hook is loaded: import them now)
import docs_tutorials  # noqa: E402

PAGES = {"reference/cli.md": "cli", "reference/config.md": "config", "reference/models.md": "models"}
FIELD_COMMENT = re.compile(r"^\s+(\w+)\s*:[^#]*#\s*(.+)$")  # `name: type = default  # meaning`


# ---- the command line ----------------------------------------------------------------

def _cell(text: object) -> str:
    """`text` made safe for one Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _option_rows(parser: argparse.ArgumentParser) -> list[str]:
    rows = []
    for action in parser._actions:  # argparse keeps no public list of its arguments
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        name = ", ".join(f"`{s}`" for s in action.option_strings) or f"`{action.metavar or action.dest}`"
        default = "" if action.default in (None, argparse.SUPPRESS, False) else f"`{action.default}`"
        choices = ", ".join(f"`{c}`" for c in action.choices) if action.choices else ""
        rows.append(f"| {name} | {_cell(action.help or '')} | {default} | {choices} |")
    return rows


def _commands(parser: argparse.ArgumentParser, prefix: str) -> list[tuple[str, argparse.ArgumentParser]]:
    """(full command, its parser) for `parser` and every sub-command below it, depth first."""
    found = [(prefix, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _commands(sub, f"{prefix} {name}")
    return found


def cli_page() -> str:
    from vaelab.cli import build_parser

    lines = ["# Command line", "",
             "Every `vaelab` command and its options, read from the parser itself at each docs build. "
             "A bad value stops the command before any work with one line on stderr and exit status 2.", ""]
    for command, parser in _commands(build_parser(), "vaelab")[1:]:
        if any(isinstance(a, argparse._SubParsersAction) for a in parser._actions):
            continue  # a group (`vaelab prior`): its sub-commands follow
        lines += [f"## `{command}`", "", _cell(parser.description or ""), "",
                  "```text", parser.format_usage().strip(), "```", ""]
        rows = _option_rows(parser)
        if rows:
            lines += ["| argument | meaning | default | choices |", "|---|---|---|---|", *rows, ""]
    return "\n".join(lines)


# ---- config keys ---------------------------------------------------------------------

def _field_comments(cls: type) -> dict[str, str]:
    """The comment beside each field in the class body (and its bases'), by field name; a
    comment continued on the lines below (`#   more`) is joined to it."""
    comments: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        last = None
        for line in source.splitlines():
            match = FIELD_COMMENT.match(line)
            if match:
                last = match.group(1)
                comments[last] = match.group(2).strip()
            elif last and line.strip().startswith("#"):
                comments[last] += " " + line.strip().lstrip("#").strip()
            else:
                last = None
    return comments


def _type_name(tp: object) -> str:
    """int, float, list[int], 'int or null' (Optional), as a reader of YAML would say it."""
    args = typing.get_args(tp)
    if typing.get_origin(tp) is typing.Union and type(None) in args:
        return " or ".join(_type_name(a) for a in args if a is not type(None)) + " or null"
    if typing.get_origin(tp) is not None:
        return str(tp).replace("typing.", "")
    return getattr(tp, "__name__", str(tp))


def _default(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        return f"`{f.default}`" if f.default is not None else "`null`"
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        value = f.default_factory()  # type: ignore[misc]
        return f"section `{value.name}` (below)" if dataclasses.is_dataclass(value) else f"`{value}`"
    return "required"


def config_rows(cls: type, where: str) -> list[str]:
    """One table row per key of the config dataclass `cls`, keys prefixed by `where`."""
    from vaelab.config import RULE

    hints = typing.get_type_hints(cls)
    comments = _field_comments(cls)
    rows = []
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints.get(f.name)):  # a nested section: its keys, prefixed
            rows += config_rows(hints[f.name], f"{where}{f.name}.")
            continue
        rule = f.metadata.get(RULE)
        accepts = rule.text if rule is not None else ""
        rows.append(f"| `{where}{f.name}` | {_cell(_type_name(hints.get(f.name, f.type)))} | {_cell(_default(f))} "
                    f"| {_cell(accepts)} | {_cell(comments.get(f.name, ''))} |")
    return rows


def _table(cls: type, where: str) -> list[str]:
    return ["| key | type | default | accepts | meaning |", "|---|---|---|---|---|", *config_rows(cls, where), ""]


def config_page() -> str:
    from vaelab.config import DataConfig, TrainConfig
    from vaelab.models.registry import MODELS
    from vaelab.runs.prior import PriorConfig

    lines = ["# Config keys", "",
             "A run's YAML file has three sections, `data`, `model` and `train`; any key can also be set "
             "on the command line (`vaelab train CONFIG.yaml train.epochs=5 model.hidden=[256,128]`). "
             "This page is written from the config classes at each docs build: the type, the default, "
             "the values each key accepts (checked before any work) and the comment beside the field.", "",
             "## `data`", "", *_table(DataConfig, "data."),
             "## `train`", "", *_table(TrainConfig, "train."),
             "## `prior` (VQ models: `vaelab prior train RUN key=value`)", "", *_table(PriorConfig, ""),
             "## `model`", "", "The keys depend on `model.name`; each model's section is its own class.", ""]
    for name, (_, config_cls) in MODELS.items():
        lines += [f"### `model.name: {name}` ({config_cls.__name__})", "", *_table(config_cls, "model.")]
    return "\n".join(lines + quantizer_sections())


def quantizer_sections() -> list[str]:
    """The VQ models' `model.quantizer`: one table per quantizer's own section."""
    from vaelab.models.quantizers import QUANTIZER_CONFIGS

    lines = ["## `model.quantizer` (vqvae, vqvae2)", "",
             "A section of its own, chosen by `model.quantizer.name` (default `ema`): the quantizer "
             "layer's constructor arguments under their own names (`vaelab.models.quantizers`). "
             "`model.quantizer=NAME` on the command line picks NAME with its defaults.", ""]
    for name, cls in QUANTIZER_CONFIGS.items():
        lines += [f"### `model.quantizer.name: {name}` ({cls.__name__})", "", *_table(cls, "model.quantizer.")]
    return lines


# ---- models --------------------------------------------------------------------------

def _capabilities(model_cls: type) -> list[str]:
    """The capability classes of vaelab.models.base (those with a `requirement`) `model_cls` inherits."""
    from vaelab.models import base

    return [cap.__name__ for cap in vars(base).values()
            if inspect.isclass(cap) and getattr(cap, "requirement", None) and issubclass(model_cls, cap)]


def _first_paragraph(obj: object) -> str:
    doc = inspect.getdoc(obj) or ""
    return " ".join(doc.split("\n\n")[0].split())


def models_page() -> str:
    from vaelab.models.registry import MODELS

    lines = ["# Models", "",
             "Every `model.name` a config can give, the class it builds, its config class (its keys: "
             "[Config keys](config.md)) and the capabilities it declares (`vaelab.models.base`): "
             "what evaluation, plots and the CLI may ask of it.", "",
             "| `model.name` | class | config | capabilities | module |", "|---|---|---|---|---|"]
    for name, (model_cls, config_cls) in MODELS.items():
        lines.append(f"| `{name}` | `{model_cls.__name__}` | `{config_cls.__name__}` "
                     f"| {', '.join(_capabilities(model_cls)) or '-'} | `{model_cls.__module__}` |")
    lines.append("")
    for name, (model_cls, _) in MODELS.items():
        lines += [f"## `{name}`", "", _first_paragraph(sys.modules[model_cls.__module__]), ""]
    return "\n".join(lines)


# ---- the API: one page per module, rendered by mkdocstrings --------------------------

SOURCE = Path(__file__).resolve().parents[1] / "src"


def modules() -> list[str]:
    """Every module of the vaelab package, dotted, in path order (packages by their __init__)."""
    found = []
    for path in sorted((SOURCE / "vaelab").rglob("*.py")):
        parts = path.relative_to(SOURCE).with_suffix("").parts
        if parts[-1] == "__main__":
            continue
        found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


def api_pages() -> list[tuple[str, str]]:
    """(site path, Markdown) for the API index and one page per module: its docstring, its
    classes and functions with their docstrings and source. A guide page links a function as
    [text][vaelab.module.function]; a name that no longer exists fails the strict build."""
    names = modules()
    index = ["# API", "", "One page per module, its docstrings and source, read from the code at each docs build.", ""]
    index += [f"- [`{name}`]({name}.md)" for name in names]
    return [("reference/api/index.md", "\n".join(index) + "\n")] + \
        [(f"reference/api/{name}.md", f"# `{name}`\n\n::: {name}\n") for name in names]


def page(kind: str) -> str:
    return {"cli": cli_page, "config": config_page, "models": models_page}[kind]()


# ---- the MkDocs hook -----------------------------------------------------------------

def on_files(files, config):
    """Add the generated reference pages to the site (MkDocs >= 1.6)."""
    from mkdocs.structure.files import File

    for uri, kind in PAGES.items():
        files.append(File.generated(config, uri, content=page(kind)))
    docs = Path(config["docs_dir"])
    for uri, content in docs_tutorials.tutorial_pages() + api_pages() + docs_tests.test_pages(docs):
        files.append(File.generated(config, uri, content=content))
    return files


def on_page_markdown(markdown, page, config, files):
    """Turn every cited test (`tests/test_x.py::name`) into a link to its source."""
    return docs_tests.link_citations(markdown, page.file.src_uri)


if __name__ == "__main__":
    print(page(sys.argv[1] if len(sys.argv) > 1 else "cli"))
