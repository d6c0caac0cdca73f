"""`jobstream completion bash`: a bash completion script, generated from the command's parser.

It completes the commands and subcommands, each one's options, and the values of options that
take names (`--status`, `--type`, `--priority`, `--format`, `--category`, `--tier`). Load it
with `source <(jobstream completion bash)`, or save it where bash-completion looks
(`~/.local/share/bash-completion/completions/jobstream`).
"""

from __future__ import annotations

import argparse
import shlex

from cli.names import EnumArg


def add_completion_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("completion", help="print a shell completion script")
    p.add_argument("shell", choices=["bash"])


def _subcommands(p: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _commands(
    p: argparse.ArgumentParser, path: str = ""
) -> list[tuple[str, argparse.ArgumentParser]]:
    """Every (sub)command as (its words, its parser), the top level first as ""."""
    found = [(path, p)]
    for name, child in _subcommands(p).items():
        found += _commands(child, f"{path} {name}".strip())
    return found


def _values(action: argparse.Action) -> list[str]:
    if action.choices is not None and not isinstance(action, argparse._SubParsersAction):
        return [str(c) for c in action.choices]
    return list(action.type.words) if isinstance(action.type, EnumArg) else []


def _words(p: argparse.ArgumentParser) -> list[str]:
    options = [s for a in p._actions for s in a.option_strings if s.startswith("--")]
    positional = [v for a in p._actions if not a.option_strings for v in _values(a)]
    return [*_subcommands(p), *positional, *options]


def _step(path: str) -> str:
    above, _, last = path.rpartition(" ")
    return f"{above} {last}"


def _value_cases(path: str, action: argparse.Action) -> list[str]:
    """Case arms completing the value of `action`'s options: its names, or (an option taking
    a value of no fixed set) none, so that bash offers file names."""
    if not action.option_strings or action.nargs == 0:
        return []
    choices = _values(action)
    then = f"w={shlex.quote(' '.join(choices))}" if choices else "return"
    return [f"        {shlex.quote(f'{path}|{o}')}) {then} ;;" for o in action.option_strings]


def bash_script(parser: argparse.ArgumentParser) -> str:
    """The completion script for `parser`'s program."""
    commands = _commands(parser)
    # "$cmd ${word}" is the next step down: " serve" from the top, "submit crawl" below
    steps = "|".join(shlex.quote(_step(path)) for path, _ in commands[1:])
    values, words = [], []
    for path, p in commands:
        values += [line for action in p._actions for line in _value_cases(path, action)]
        words.append(f"        {shlex.quote(path)}) w={shlex.quote(' '.join(_words(p)))} ;;")
    name = parser.prog
    return "\n".join([
        f"# bash completion for {name}: source <({name} completion bash)",
        f"_{name}() {{",
        '    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} cmd="" w i',
        "    COMPREPLY=()",
        "    for ((i = 1; i < COMP_CWORD; i++)); do",
        '        case "$cmd ${COMP_WORDS[i]}" in',
        f'            {steps}) cmd="${{cmd:+$cmd }}${{COMP_WORDS[i]}}" ;;',
        "        esac",
        "    done",
        '    w=""',
        '    case "$cmd|$prev" in',
        *values,
        "    esac",
        '    if [[ -z $w ]]; then',
        '        case "$cmd" in',
        *[f"    {line}" for line in words],
        "        esac",
        "    fi",
        '    COMPREPLY=($(compgen -W "$w" -- "$cur"))',
        "}",
        f"complete -o default -F _{name} {name}",
        "",
    ])  # fmt: skip
