"""The only place that parses argv, prints top-level errors and exits.

Each command lives in ``bridge.commands.<name>`` as ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.metadata
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

#: Where the config is looked for when --config is not given (see `bridge.discovery`).
DEFAULT_CONFIG = "config/bridge.yaml"


def _add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        default=None,
        help="path to bridge.yaml (default: $JSM_BRIDGE_CONFIG, else ./config/bridge.yaml,"
        " else /etc/jsm-bridge/bridge.yaml)",
    )


def _version() -> str:
    try:
        return importlib.metadata.version("jsm-bridge")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - run from a bare tree
        return "unknown"


def _verbosity(*, top: bool) -> argparse.ArgumentParser:
    """-v/-q, accepted before the command and after it (``jsm-bridge run -q``).  After the
    command they default to "not given", so they never undo the ones given before it."""
    parent = argparse.ArgumentParser(add_help=False)
    default: dict[str, object] = (
        {"v": 0, "q": False} if top else {"v": argparse.SUPPRESS, "q": argparse.SUPPRESS}
    )
    parent.add_argument(
        "-v", "--verbose", action="count", default=default["v"], help="more log output"
    )
    parent.add_argument(
        "-q", "--quiet", action="store_true", default=default["q"], help="only warnings and errors"
    )
    return parent


def _add_rules(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--rules",
        default=None,
        help="rules directory (default: the config's `rules:` entry, which defaults to ../rules"
        " beside the config file; ./rules when there is no config)",
    )


def _add_now(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--now",
        default=None,
        help="evaluate as if it were this moment (ISO 8601, e.g. 2026-11-30T16:00+10:00)",
    )


class _Parser(argparse.ArgumentParser):
    """argparse's parser, whose "bad arguments" line (exit 2) is an error with its syslog
    priority when the log lines carry theirs (a unit's mistyped ExecStart=)."""

    def error(self, message: str) -> NoReturn:
        from bridge.logs import complain

        self.print_usage(sys.stderr)
        complain(f"{self.prog}: error: {message}")
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = _Parser(
        prog="jsm-bridge",
        description="Support-SLA enforcement for Jira Service Management.",
        parents=[_verbosity(top=True)],
    )
    parser.add_argument("--version", action="version", version=f"jsm-bridge {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    after = _verbosity(top=False)

    class _Sub:
        """``sub.add_parser`` that gives every command the -v/-q options too."""

        def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
            made: argparse.ArgumentParser = commands.add_parser(name, parents=[after], **kwargs)
            return made

    sub = _Sub()

    p = sub.add_parser("check", help="validate config and rules; print a summary of the policy")
    _add_config(p)
    _add_rules(p)
    p.add_argument(
        "--online",
        action="store_true",
        help="also ask the Jira site for every name, option, permission and screen field",
    )

    p = sub.add_parser(
        "setup-site", help="create the custom fields, options and saved filters the bridge needs"
    )
    _add_config(p)
    _add_rules(p)
    p.add_argument(
        "--dry-run", action="store_true", help="say what would be created; change nothing"
    )

    p = sub.add_parser("plan", help="print the changes a cycle would make; writes nothing")
    _add_config(p)
    _add_rules(p)
    _add_now(p)
    p.add_argument("--issue", default=None, metavar="KEY", help="only this issue")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("run", help="poll, evaluate and apply (daemon loop, or --once for cron)")
    _add_config(p)
    _add_rules(p)
    _add_now(p)
    p.add_argument("--once", action="store_true", help="run one cycle and exit")
    p.add_argument("--dry-run", action="store_true", help="plan only; write nothing")

    p = sub.add_parser("explain", help="the full reasoning for one issue")
    _add_config(p)
    _add_rules(p)
    _add_now(p)
    p.add_argument("key", metavar="KEY")

    p = sub.add_parser("report", help="per-customer SLA compliance and quota usage for a month")
    _add_config(p)
    _add_rules(p)
    _add_now(p)
    p.add_argument("--month", required=True, metavar="YYYY-MM")
    p.add_argument(
        "--customer",
        action="append",
        default=None,
        metavar="NAME",
        help="only this customer (its customers.yaml organisation, any case; repeat for"
        " several): other customers and unknown organisations are left out",
    )
    p.add_argument("--out", default=None, help="directory for the CSV and HTML files")
    p.add_argument(
        "--template",
        default=None,
        metavar="FILE",
        help="a jinja2 template for the HTML page (start from bridge/report/templates/)",
    )

    p = sub.add_parser("due", help="when a case raised at T is due, on a customer's calendar")
    _add_config(p)
    _add_rules(p)
    p.add_argument(
        "--created", required=True, metavar="T", help="ISO 8601 time the case was raised"
    )
    p.add_argument("--priority", required=True, metavar="P", help="P1..P4")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--customer", default=None, metavar="ORG")
    group.add_argument("--calendar", default=None, metavar="NAME")

    p = sub.add_parser("schema", help="print the JSON Schema of the rule files")
    p.add_argument("--file", default=None, choices=["tiers", "customers", "priorities", "sla"])

    p = sub.add_parser("sandbox", help="start the embedded Jira Service Management sandbox")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8089)
    p.add_argument(
        "--seed",
        default="demo",
        help="demo | empty | bare (no custom fields: try setup-site) | FILE",
    )
    p.add_argument("--flavour", default="cloud", choices=["cloud", "datacenter"])
    p.add_argument("--faults", default=None, metavar="SPEC", help="fault injection spec")
    p.add_argument("--state", default=None, metavar="FILE", help="persist the sandbox here")
    p.add_argument("--now", default=None, help="the sandbox clock's start (ISO 8601)")
    p.add_argument("--cases", type=int, default=None, help="generate N extra cases")

    p = sub.add_parser("demo", help="sandbox + one cycle + the resulting table")
    _add_config(p)
    _add_rules(p)
    p.add_argument("--keep", action="store_true", help="leave the sandbox running afterwards")
    p.add_argument(
        "--port", type=int, default=None, help="the sandbox's port (default: the config's, or 8089)"
    )
    p.add_argument(
        "--now",
        default=None,
        help="the demo's moment (ISO 8601; default: the demo world's own, 2026-11-24T10:00+10:00)",
    )

    p = sub.add_parser("init", help="write a config directory to start from")
    p.add_argument("dir", metavar="DIR", help="where to write config/ and rules/")
    p.add_argument("--force", action="store_true", help="overwrite files that exist")

    p = sub.add_parser("completion", help="print a shell completion script")
    p.add_argument("shell", choices=["bash", "zsh", "tcsh"])
    return parser


def _command(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Run the command ``args`` names (``completion`` here: it prints the parser's script)."""
    if args.command == "completion":
        import shtab

        print(shtab.complete(parser, shell=args.shell))
        return 0
    module = importlib.import_module(f"bridge.commands.{args.command.replace('-', '_')}")
    code: int = module.run(args)
    return code


#: Exit status for a fault in the bridge itself (sysexits.h EX_SOFTWARE).
EXIT_INTERNAL = 70


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command.  Everything it writes to stdout and stderr (tables, summaries,
    error messages, log lines) passes through the one redaction in `bridge.logs`."""
    from bridge.logs import RedactingStream, complain, forget_complaints, redact_text

    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = RedactingStream(stdout), RedactingStream(stderr)
    forget_complaints()
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        try:
            code: int = _command(parser, args)
            sys.stdout.flush()  # a reader that left shows here, not in the flush at exit
        except KeyboardInterrupt:
            return 130
        except BrokenPipeError:
            # `jsm-bridge plan | head`: the reader left; say nothing more (no traceback), and
            # keep the interpreter's final flush from failing on the closed pipe too
            with contextlib.suppress(OSError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, stdout.fileno())
            return 141  # 128 + SIGPIPE, as a shell reports it
        except Exception as exc:  # a fault in the bridge: one clear line, no traceback
            import traceback

            if getattr(args, "verbose", 0):
                complain(traceback.format_exc().rstrip("\n"))
            complain(
                f"error: internal error ({type(exc).__name__}: {redact_text(str(exc))[:500]});"
                " please report it with the output of -v"
            )
            return EXIT_INTERNAL
        return code
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        sys.stdout, sys.stderr = stdout, stderr


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
