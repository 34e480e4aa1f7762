"""JQL for the sandbox: a tokenizer, a recursive-descent parser and a compiler to closures.

Only the subset jsm-bridge (and a person poking at the sandbox with curl) needs, but with
Jira's grammar and Jira's error wording, so a query the sandbox accepts is one Jira accepts
and a query Jira rejects gets the same 400 here. Parse once with :func:`parse`, then call
:meth:`Query.matches` per issue (cheap: no regex compiles, no date parsing) and
:meth:`Query.sort` on the hits.

What is supported
-----------------
* Clauses ``field OP operand`` combined with ``AND``/``&&``/``&``, ``OR``/``||``/``|``,
  ``NOT``/``!`` and parentheses; precedence NOT > AND > OR. Keywords are case-insensitive.
* Fields: bare words, quoted names (``"Environment type"``) and ``cf[10042]``. The issue
  answers for them through :meth:`IssueView.jql_values` with the lower-cased name.
* Operators ``= != < > <= >= ~ !~ IN, NOT IN, IS [NOT] EMPTY|NULL``; ``= EMPTY`` and
  ``IN (EMPTY, x)`` as in Jira. ``WAS`` and ``CHANGED`` (history searches) are refused.
* Values: unquoted words (letters, digits, ``- . _ :``), strings in double or single quotes
  with Jira's escapes (``\\" \\' \\\\ \\t \\n \\r \\<space> \\uXXXX``). As in Jira, the
  characters ``{ } * / % + ^ $ # @ ? ; [ ]`` and JQL's reserved words must be quoted: an
  unquoted e-mail address is an error ("The character '@' is a reserved JQL character").
* Dates: ``yyyy-MM-dd``, ``yyyy/MM/dd``, either with `` HH:mm`` (the user's zone ``tz``),
  periods relative to ``now`` (``-1d``, ``-2h``, ``-30m``, ``1w``, ``"-4w 2d"``; one leading
  sign for the whole period; a day is 24 hours as in Jira), epoch milliseconds, and the
  functions ``now()``, ``startOfDay/Week/Month/Year([inc])``, ``endOfDay/Week/Month/Year([inc])``
  where ``inc`` is ``(+/-)n[yMwdhm]`` with the function's own unit by default
  (``startOfMonth(-1)`` is the first of last month, ``startOfMonth("+14d")`` the 15th).
  Periods are computed in ``tz``; the week starts on ``week_start`` (Python weekday numbers,
  default 6 = Sunday, Jira's en_US default). For ``endOf*`` an increment in a unit at least as
  large as the period moves the period first (``endOfMonth(1)`` is the last moment of next
  month); a smaller unit is added to the end instant. ``currentUser()`` becomes
  ``current_user``'s identifiers (none: matches nobody, as for an anonymous search).
* Semantics: equality is case-insensitive; multi-valued fields match ``=``/``IN`` when any
  value does; ``!=``, ``NOT IN`` and ``!~`` never match an EMPTY field (Jira's rule); ``NOT``
  is a true complement. ``key < SUP-10`` compares numbers within the same project.
  ``resolution = Unresolved`` means EMPTY. ``~`` is a case-insensitive search for every word
  of the term (a phrase when the term itself is in quotes; ``*`` and ``?`` are wildcards).
  Date comparisons are by instant, and a date-only value is the start of that day in ``tz``.
* ``ORDER BY f [ASC|DESC], ...``: stable; dates by instant, keys by project then number,
  text case-insensitively, priority/resolution by ``rank`` (or ``IssueView.sort_value``);
  EMPTY sorts last ascending and first descending. The default direction is ASC. A query
  without ORDER BY sorts by ``key DESC`` (newest case first, as Jira's issue search shows it).

Errors are :class:`JqlError` with Jira's messages: syntax errors ("Error in the JQL Query: ...
(line L, character C)", 1-based) stop at the first; validation errors (unknown fields,
functions or values, unsupported operators, bad dates) are all collected, as Jira lists them.
"""

from __future__ import annotations

import calendar
import operator
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, Protocol, TypeVar

__all__ = ["IssueView", "JqlError", "Query", "SortableIssueView", "parse"]


class JqlError(ValueError):
    """A query Jira would answer with 400; ``messages`` are its ``errorMessages``.

    ``str(error)`` is the first message, e.g. ``"Error in the JQL Query: Expecting operator but
    got 'foo'. ... (line 1, character 12)"`` or ``"Field 'bogus' does not exist or you do not
    have permission to view it."``. ``line``/``character`` locate a syntax error (1-based).
    """

    def __init__(
        self, messages: Sequence[str], *, line: int | None = None, character: int | None = None
    ) -> None:
        self.messages: tuple[str, ...] = tuple(messages)
        self.message = self.messages[0]
        self.line = line
        self.character = character
        super().__init__(self.message)


class IssueView(Protocol):
    def jql_values(self, field: str) -> list[object]:
        """Values of a JQL field for this issue (``[]`` for EMPTY).

        ``field`` is the lower-cased clause name as written, quotes removed: system fields
        (``project``, ``key``/``issuekey``, ``status``, ``statuscategory``, ``priority``,
        ``labels``, ``reporter``, ``assignee``, ``created``, ``updated``, ``resolution``,
        ``resolved``, ``summary``, ``issuetype``, ``component``, ...), a custom field's name
        (``environment type``) or ``cf[10042]``. Strings for text, options and users (for users
        every identifier that may match: accountId, e-mail, display name); aware datetimes for
        dates; numbers for number fields; the key string for ``key``/``issuekey``; for
        ``statuscategory`` both name and key ("Done", "done"); for ``project`` key and name.
        """
        ...


class SortableIssueView(IssueView, Protocol):
    def sort_value(self, field: str) -> object | None:
        """Optional: the value ORDER BY uses for ``field`` (e.g. a priority's rank, larger =
        more important, so ``ORDER BY priority DESC`` lists Blocker first). ``None`` falls back
        to the first of :meth:`jql_values`."""
        ...


T = TypeVar("T", bound=IssueView)
Predicate = Callable[[IssueView], bool]

# ---------------------------------------------------------------------------------------------
# Jira's vocabulary

_PREFIX = "Error in the JQL Query: "
_VALID_OPERATORS = (
    "The valid operators are '=', '!=', '<', '>', '<=', '>=', '~', '!~', 'IN', 'NOT IN', "
    "'IS' and 'IS NOT'."
)
_DATE_FORMATS = (
    "Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', "
    "'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'."
)

# JQL's reserved words (Jira's JqlStringSupportImpl.RESERVED_WORDS): a value or field that is one
# of these must be quoted.
_RESERVED_WORDS = frozenset(
    """
    abort access add after alias all alter and any as asc audit avg before begin between
    boolean break by byte catch cf changed char character check checkpoint collate collation
    column commit connect continue count create current date decimal declare decrement default
    defaults define delete delimiter desc difference distinct divide do double drop else empty
    encoding end equals escape exclusive exec execute exists explain false fetch file field
    first float for from function go goto grant greater group having identified if immediate in
    increment index initial inner inout input insert int integer intersect intersection into is
    isempty isnull join last left less like limit lock long max min minus mode modify modulo
    more multiply next noaudit not notin nowait null number object of on option or order outer
    output power previous prior privileges public raise raw remainder rename resource return
    returns revoke right row rowid rownum rows select session set share size sqrt start strict
    string subtract sum synonym table then to trans transaction trigger true uid union unique
    update user validate values view was when whenever where while with
    """.split()  # noqa: SIM905 - a word list reads better as text
)
# Words the grammar itself uses; met where a field or value is expected, Jira says "Expecting ...".
_GRAMMAR_WORDS = frozenset(
    {
        "and",
        "or",
        "not",
        "in",
        "is",
        "empty",
        "null",
        "order",
        "by",
        "asc",
        "desc",
        "was",
        "changed",
    }
)
_RESERVED_CHARS = frozenset("{}*/%+^$#@?;[]")
# Characters that end an unquoted word (besides whitespace and reserved characters).
_WORD_STOP = frozenset("\"'(),=!<>~|&")
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "\\": "\\", '"': '"', "'": "'", " ": " "}

_EQ_OPS = frozenset({"=", "!=", "in", "not in"})
_ORDER_OPS = frozenset({"<", ">", "<=", ">="})
_TEXT_OPS = frozenset({"~", "!~"})
_IS_OPS = frozenset({"is", "is not"})
_ALL_OPS = _EQ_OPS | _ORDER_OPS | _TEXT_OPS | _IS_OPS
_PLAIN = _EQ_OPS | _IS_OPS

# Field kinds decide validation and how literals are prepared.
_KEY, _DATE, _RANKED, _TEXT, _PLAIN_KIND, _ANY = "key", "date", "ranked", "text", "plain", "any"


@dataclass(frozen=True, slots=True)
class _FieldSpec:
    kind: str
    ops: frozenset[str]


_SYSTEM_FIELDS: dict[str, _FieldSpec] = {}
for _names, _spec in (
    ("key issuekey id", _FieldSpec(_KEY, _EQ_OPS | _ORDER_OPS)),
    (
        "created createddate updated updateddate resolved resolutiondate due duedate lastviewed",
        _FieldSpec(_DATE, _EQ_OPS | _ORDER_OPS | _IS_OPS),
    ),
    ("priority resolution", _FieldSpec(_RANKED, _EQ_OPS | _ORDER_OPS | _IS_OPS)),
    ("summary", _FieldSpec(_TEXT, _TEXT_OPS)),
    ("description environment comment text", _FieldSpec(_TEXT, _TEXT_OPS | _IS_OPS)),
    ("statuscategory category", _FieldSpec(_PLAIN_KIND, _EQ_OPS)),
    # JSM's request channel (= != IN, NOT IN): portal, email, api, jira, anonymousportal.
    # Cloud: Atlassian Support, Jira Cloud "JQL fields", Request channel type
    # (https://support.atlassian.com/jira-software-cloud/docs/jql-fields/); Data Center:
    # JSM Data Center API, CustomerRequestChannelSource ("queried via JQL like
    # request-channel-type = "api"", https://docs.atlassian.com/jira-servicedesk/10.3.2/
    # com/atlassian/servicedesk/api/request/CustomerRequestChannelSource.html)
    ("request-channel-type", _FieldSpec(_PLAIN_KIND, _EQ_OPS)),
    (
        "project status labels issuetype type component components reporter assignee creator",
        _FieldSpec(_PLAIN_KIND, _PLAIN),
    ),
):
    for _name in _names.split():
        _SYSTEM_FIELDS[_name] = _spec
_CUSTOM = _FieldSpec(_ANY, _ALL_OPS)

# ---------------------------------------------------------------------------------------------
# Tokens

_WORD, _STRING, _CF, _LPAREN, _RPAREN, _COMMA, _OP, _EOF = (
    "word",
    "string",
    "cf",
    "(",
    ")",
    ",",
    "op",
    "eof",
)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    value: str  # decoded text (words, strings), the field name (cf), the operator (op)
    raw: str  # as written
    pos: int  # offset in the source

    @property
    def keyword(self) -> str | None:
        if self.kind == _WORD:
            low = self.value.lower()
            if low in _GRAMMAR_WORDS and self.raw.lower() == low:
                return low
        return None


def _where(src: str, pos: int) -> tuple[int, int]:
    line = src.count("\n", 0, pos) + 1
    return line, pos - (src.rfind("\n", 0, pos) + 1) + 1


def _syntax(src: str, text: str, pos: int | None = None) -> JqlError:
    if pos is None:
        return JqlError([_PREFIX + text])
    line, char = _where(src, pos)
    return JqlError([f"{_PREFIX}{text} (line {line}, character {char})"], line=line, character=char)


def _escape(src: str, j: int) -> tuple[str, int]:
    """Decode the escape at ``src[j] == '\\'``; return the character and the index after it."""
    nxt = src[j + 1 : j + 2]
    if nxt in _ESCAPES:
        return _ESCAPES[nxt], j + 2
    if nxt == "u":
        digits = src[j + 2 : j + 6]
        if len(digits) == 4 and all(c in "0123456789abcdefABCDEF" for c in digits):
            return chr(int(digits, 16)), j + 6
        raise _syntax(src, f"The escape sequence '{src[j : j + 6]}' is invalid.", j)
    raise _syntax(src, f"The escape sequence '\\{nxt}' is invalid.", j)


def _reserved_char(src: str, j: int) -> JqlError:
    c = src[j]
    return _syntax(
        src,
        f"The character '{c}' is a reserved JQL character. You must enclose it in a string "
        f"or use the escape '\\u{ord(c):04x}' instead.",
        j,
    )


def _tokenize(src: str) -> list[_Token]:
    tokens: list[_Token] = []
    n = len(src)
    i = 0
    while i < n:
        c = src[i]
        if c.isspace():
            i += 1
            continue
        if c in "\"'":
            buf: list[str] = []
            j = i + 1
            while True:
                if j >= n:
                    raise _syntax(
                        src, f"The quoted string '{src[i + 1 :]}' has not been completed.", i
                    )
                ch = src[j]
                if ch == c:
                    j += 1
                    break
                if ch == "\\":
                    decoded, j = _escape(src, j)
                    buf.append(decoded)
                else:
                    buf.append(ch)
                    j += 1
            tokens.append(_Token(_STRING, "".join(buf), src[i:j], i))
            i = j
            continue
        if c in "(),":
            tokens.append(_Token(c, c, c, i))
            i += 1
            continue
        two = src[i : i + 2]
        if two in ("!=", "!~", "<=", ">=", "&&", "||"):
            tokens.append(_Token(_OP, two, two, i))
            i += 2
            continue
        if c in "=!<>~&|":
            tokens.append(_Token(_OP, c, c, i))
            i += 1
            continue
        if c in _RESERVED_CHARS:
            raise _reserved_char(src, i)
        # An unquoted word.
        buf = []
        j = i
        while j < n:
            ch = src[j]
            if ch == "\\":
                decoded, j = _escape(src, j)
                buf.append(decoded)
                continue
            if ch.isspace() or ch in _WORD_STOP:
                break
            if ch in _RESERVED_CHARS:
                if ch == "[" and src[i:j].lower() == "cf":
                    break
                raise _reserved_char(src, j)
            buf.append(ch)
            j += 1
        word = "".join(buf)
        if word.lower() == "cf" and src[j : j + 1] == "[":
            m = _CF_RE.match(src, j)
            if m is None:
                got = src[j:].split(None, 1)[0] if src[j:].strip() else src[j:]
                raise _syntax(
                    src,
                    f"Expecting a custom field id such as 'cf[10042]' but got '{src[i:j]}{got}'.",
                    i,
                )
            tokens.append(_Token(_CF, f"cf[{m.group(1)}]", src[i : m.end()], i))
            i = m.end()
            continue
        tokens.append(_Token(_WORD, word, src[i:j], i))
        i = j
    tokens.append(_Token(_EOF, "", "", n))
    return tokens


_CF_RE = re.compile(r"\[\s*(\d+)\s*\]")

# ---------------------------------------------------------------------------------------------
# Syntax tree


@dataclass(frozen=True, slots=True)
class _Value:
    text: str
    raw: str
    pos: int


@dataclass(frozen=True, slots=True)
class _Empty:
    raw: str
    pos: int


@dataclass(frozen=True, slots=True)
class _Func:
    name: str
    args: tuple[str, ...]
    raw: str  # "startOfMonth(-1)" as written
    pos: int


_Single = _Value | _Empty | _Func


@dataclass(frozen=True, slots=True)
class _List:
    items: tuple[_Single, ...]
    raw: str
    pos: int


_Operand = _Single | _List


@dataclass(frozen=True, slots=True)
class _Clause:
    field: str  # lower-cased, quotes removed
    field_raw: str  # as the user wrote it, without quotes
    op: str  # '=', '!=', '<', ..., 'in', 'not in', 'is', 'is not', '~', '!~'
    operand: _Operand
    pos: int


@dataclass(frozen=True, slots=True)
class _Not:
    inner: _Node


@dataclass(frozen=True, slots=True)
class _Bool:
    op: str  # 'and' | 'or'
    parts: tuple[_Node, ...]


_Node = _Clause | _Not | _Bool

_MAX_DEPTH = 64


class _Parser:
    def __init__(self, src: str) -> None:
        self.src = src
        self.tokens = _tokenize(src)
        self.i = 0
        self.depth = 0

    # -- helpers
    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        tok = self.tokens[self.i]
        if tok.kind != _EOF:
            self.i += 1
        return tok

    def fail(self, text: str, tok: _Token) -> JqlError:
        return _syntax(self.src, text, tok.pos)

    def is_and(self, tok: _Token) -> bool:
        return tok.keyword == "and" or (tok.kind == _OP and tok.value in ("&", "&&"))

    def is_or(self, tok: _Token) -> bool:
        return tok.keyword == "or" or (tok.kind == _OP and tok.value in ("|", "||"))

    # -- grammar
    def query(self) -> tuple[_Node | None, list[tuple[str, str, bool]]]:
        where: _Node | None = None
        tok = self.peek()
        if tok.kind != _EOF and tok.keyword != "order":
            where = self.or_clause()
            tok = self.peek()
            if tok.kind != _EOF and tok.keyword != "order":
                raise self.fail(f"Expecting either 'OR' or 'AND' but got '{tok.raw}'.", tok)
        order: list[tuple[str, str, bool]] = []
        if self.peek().keyword == "order":
            self.take()
            by = self.take()
            if by.kind == _EOF:
                raise _syntax(self.src, "Expecting 'BY' before the end of the query.")
            if by.keyword != "by":
                raise self.fail(f"Expecting 'BY' but got '{by.raw}'.", by)
            while True:
                name, raw, _pos = self.field_name()
                ascending = True
                direction = self.peek().keyword
                if direction in ("asc", "desc"):
                    self.take()
                    ascending = direction == "asc"
                order.append((name, raw, ascending))
                tok = self.take()
                if tok.kind == _EOF:
                    break
                if tok.kind != _COMMA:
                    raise self.fail(
                        f"Expecting either ',' or the end of the query but got '{tok.raw}'.", tok
                    )
        return where, order

    def or_clause(self) -> _Node:
        parts = [self.and_clause()]
        while self.is_or(self.peek()):
            self.take()
            parts.append(self.and_clause())
        return parts[0] if len(parts) == 1 else _Bool("or", tuple(parts))

    def and_clause(self) -> _Node:
        parts = [self.not_clause()]
        while self.is_and(self.peek()):
            self.take()
            parts.append(self.not_clause())
        return parts[0] if len(parts) == 1 else _Bool("and", tuple(parts))

    def not_clause(self) -> _Node:
        tok = self.peek()
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self.fail(f"The query nests NOT and parentheses deeper than {_MAX_DEPTH}.", tok)
        try:
            if tok.keyword == "not" or (tok.kind == _OP and tok.value == "!"):
                self.take()
                return _Not(self.not_clause())
            if tok.kind == _LPAREN:
                self.take()
                inner = self.or_clause()
                close = self.take()
                if close.kind == _EOF:
                    raise _syntax(self.src, "Expecting ')' before the end of the query.")
                if close.kind != _RPAREN:
                    raise self.fail(f"Expecting ')' but got '{close.raw}'.", close)
                return inner
            return self.terminal()
        finally:
            self.depth -= 1

    def field_name(self) -> tuple[str, str, int]:
        tok = self.take()
        if tok.kind == _EOF:
            raise _syntax(self.src, "Expecting a field name at the end of the query.")
        if tok.kind in (_STRING, _CF):
            return tok.value.lower(), tok.value, tok.pos
        if tok.kind == _WORD:
            low = tok.value.lower()
            if tok.keyword is not None:
                raise self.fail(
                    f"Expecting a field name but got '{tok.raw}'. You must surround "
                    f"'{tok.raw}' in quotation marks to use it as a field name.",
                    tok,
                )
            if low in _RESERVED_WORDS and tok.raw.lower() == low:
                raise self.reserved(tok)
            return low, tok.value, tok.pos
        raise self.fail(f"Expecting a field name but got '{tok.raw}'.", tok)

    def reserved(self, tok: _Token) -> JqlError:
        return self.fail(
            f"'{tok.raw}' is a reserved JQL word. You must surround it in quotation marks to "
            "use it in a query.",
            tok,
        )

    def terminal(self) -> _Clause:
        name, raw, pos = self.field_name()
        tok = self.take()
        op: str
        if tok.kind == _OP and tok.value in ("=", "!=", "<", ">", "<=", ">=", "~", "!~"):
            op = tok.value
        elif tok.keyword == "in":
            op = "in"
        elif tok.keyword == "not":
            nxt = self.take()
            if nxt.keyword != "in":
                if nxt.kind == _EOF:
                    raise _syntax(self.src, "Expecting 'IN' before the end of the query.")
                raise self.fail(f"Expecting 'IN' but got '{nxt.raw}'.", nxt)
            op = "not in"
        elif tok.keyword == "is":
            op = "is"
            if self.peek().keyword == "not":
                self.take()
                op = "is not"
        elif tok.keyword in ("was", "changed"):
            raise self.fail(
                f"History searches ('{tok.raw.upper()}') are not supported by the jsm-bridge "
                "sandbox; search the current values instead.",
                tok,
            )
        elif tok.kind == _EOF:
            raise _syntax(
                self.src, f"Expecting operator before the end of the query. {_VALID_OPERATORS}"
            )
        else:
            raise self.fail(f"Expecting operator but got '{tok.raw}'. {_VALID_OPERATORS}", tok)
        return _Clause(name, raw, op, self.operand(), pos)

    def operand(self) -> _Operand:
        tok = self.peek()
        if tok.kind != _LPAREN:
            return self.single()
        self.take()
        items: list[_Single] = []
        while True:
            items.append(self.single())
            sep = self.take()
            if sep.kind == _RPAREN:
                break
            if sep.kind == _EOF:
                raise _syntax(self.src, "Expecting ')' before the end of the query.")
            if sep.kind != _COMMA:
                raise self.fail(f"Expecting either ',' or ')' but got '{sep.raw}'.", sep)
        return _List(tuple(items), self.src[tok.pos : sep.pos + 1], tok.pos)

    def single(self) -> _Single:
        tok = self.take()
        if tok.kind == _EOF:
            raise _syntax(
                self.src, "Expecting either a value, list or function before the end of the query."
            )
        if tok.kind == _STRING:
            return _Value(tok.value, tok.raw, tok.pos)
        if tok.kind == _WORD:
            kw = tok.keyword
            if kw in ("empty", "null"):
                return _Empty(tok.raw, tok.pos)
            if kw is not None:
                raise self.bad_value(tok)
            if self.peek().kind == _LPAREN:
                return self.function(tok)
            if tok.value.lower() in _RESERVED_WORDS and tok.raw.lower() == tok.value.lower():
                raise self.reserved(tok)
            return _Value(tok.value, tok.raw, tok.pos)
        raise self.bad_value(tok)

    def bad_value(self, tok: _Token) -> JqlError:
        return self.fail(
            f"Expecting either a value, list or function but got '{tok.raw}'. You must surround "
            f"'{tok.raw}' in quotation marks to use it as a value.",
            tok,
        )

    def function(self, name: _Token) -> _Func:
        self.take()  # '('
        args: list[str] = []
        if self.peek().kind == _RPAREN:
            close = self.take()
        else:
            while True:
                arg = self.take()
                if arg.kind == _EOF:
                    raise _syntax(self.src, "Expecting ')' before the end of the query.")
                if arg.kind not in (_WORD, _STRING) or arg.keyword is not None:
                    raise self.fail(
                        f"Expecting a function argument but got '{arg.raw}'. You must surround "
                        f"'{arg.raw}' in quotation marks to use it as an argument.",
                        arg,
                    )
                args.append(arg.value)
                close = self.take()
                if close.kind == _RPAREN:
                    break
                if close.kind == _EOF:
                    raise _syntax(self.src, "Expecting ')' before the end of the query.")
                if close.kind != _COMMA:
                    raise self.fail(f"Expecting either ',' or ')' but got '{close.raw}'.", close)
        return _Func(name.value, tuple(args), self.src[name.pos : close.pos + 1], name.pos)


# ---------------------------------------------------------------------------------------------
# Dates

_ABSOLUTE_RE = re.compile(r"(\d{4})([-/])(\d{1,2})\2(\d{1,2})(?:\s+(\d{1,2}):(\d{2}))?")
_PERIOD_RE = re.compile(r"([-+])?\s*((?:\d+\s*[wdhmWDHM]\s*)+)")
_PERIOD_TERM_RE = re.compile(r"(\d+)\s*([wdhmWDHM])")
_EPOCH_RE = re.compile(r"\d+")
_NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?")
_INCREMENT_RE = re.compile(r"([-+])?(\d+)([yMwdhm])?")
_KEY_RE = re.compile(r"([A-Za-z][A-Za-z0-9_]*)-(\d+)")
_PERIOD_SECONDS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60}
# Units from smallest to largest, for deciding how an endOf* increment applies.
_UNIT_SIZE = {"m": 0, "h": 1, "d": 2, "w": 3, "M": 4, "y": 5}


def _parse_date(text: str, now: datetime, tz: tzinfo) -> datetime | None:
    """A date literal as Jira reads it, or None when it is not one."""
    s = text.strip()
    m = _ABSOLUTE_RE.fullmatch(s)
    if m is not None:
        year, _sep, month, day, hour, minute = m.groups()
        try:
            return datetime(
                int(year),
                int(month),
                int(day),
                int(hour or 0),
                int(minute or 0),
                tzinfo=tz,
            )
        except ValueError:
            return None
    m = _PERIOD_RE.fullmatch(s)
    if m is not None:
        seconds = sum(
            int(n) * _PERIOD_SECONDS[unit.lower()] for n, unit in _PERIOD_TERM_RE.findall(m[2])
        )
        return now + timedelta(seconds=-seconds if m[1] == "-" else seconds)
    if _EPOCH_RE.fullmatch(s):
        try:
            return datetime.fromtimestamp(int(s) / 1000, tz=UTC)
        except (OverflowError, ValueError, OSError):
            return None
    return None


def _add_months(d: date, months: int) -> date:
    total = d.year * 12 + (d.month - 1) + months
    year, month = divmod(total, 12)
    if not 1 <= year <= 9999:
        raise OverflowError
    month += 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def _shift_date(d: date, n: int, unit: str) -> date:
    if unit == "y":
        return _add_months(d, 12 * n)
    if unit == "M":
        return _add_months(d, n)
    if unit == "w":
        return d + timedelta(weeks=n)
    return d + timedelta(days=n)


_PERIOD_FUNCTIONS = {
    # name -> (period unit, start or end)
    "startofday": ("d", True),
    "startofweek": ("w", True),
    "startofmonth": ("M", True),
    "startofyear": ("y", True),
    "endofday": ("d", False),
    "endofweek": ("w", False),
    "endofmonth": ("M", False),
    "endofyear": ("y", False),
}


def _period_start(d: date, unit: str, week_start: int) -> date:
    if unit == "w":
        return d - timedelta(days=(d.weekday() - week_start) % 7)
    if unit == "M":
        return d.replace(day=1)
    if unit == "y":
        return d.replace(month=1, day=1)
    return d


def _period_function(
    unit: str,
    is_start: bool,
    increment: tuple[int, str] | None,
    now: datetime,
    tz: tzinfo,
    week_start: int,
) -> datetime:
    anchor = now.astimezone(tz).date()
    n, inc_unit = increment if increment is not None else (0, unit)
    shift_first = _UNIT_SIZE[inc_unit] >= _UNIT_SIZE[unit]
    if shift_first and not is_start:
        anchor = _shift_date(_period_start(anchor, unit, week_start), n, inc_unit)
    start = _period_start(anchor, unit, week_start)
    if is_start:
        day, moment = start, time()
    else:
        day = _shift_date(start, 1, unit) - timedelta(days=1)
        moment = time(23, 59, 59, 999000)
    if not (shift_first and not is_start) and n and inc_unit in ("y", "M", "w", "d"):
        day = _shift_date(day, n, inc_unit)
    result = datetime.combine(day, moment, tzinfo=tz)
    if n and inc_unit in ("h", "m"):
        delta = timedelta(hours=n) if inc_unit == "h" else timedelta(minutes=n)
        result = (result.astimezone(UTC) + delta).astimezone(tz)
    return result


# ---------------------------------------------------------------------------------------------
# Compilation


@dataclass(frozen=True, slots=True)
class _Atom:
    """One resolved operand value, prepared for every way an issue's value may compare."""

    keys: frozenset[object]  # equality keys: casefolded text, instant, number
    text: str  # as written (for messages and ~)
    instant: datetime | None = None
    number: float | None = None
    issue_key: tuple[str, int] | None = None
    rank: float | None = None


def _eq_key_in(tz: tzinfo) -> Callable[[object], object]:
    """How an issue's value is looked up among an operand's equality keys."""

    def eq_key(value: object) -> object:
        if type(value) is str:
            return value.casefold()
        if isinstance(value, bool):
            return str(value).casefold()
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, datetime):
            return value
        if isinstance(value, date):
            return datetime.combine(value, time(), tz)
        return str(value).casefold()

    return eq_key


def _split_key(value: object) -> tuple[str, int] | None:
    if type(value) is not str:
        return None
    project, dash, number = value.rpartition("-")
    if not dash or not number.isdigit() or not project:
        return None
    return project.casefold(), int(number)


class _Compiler:
    def __init__(
        self,
        src: str,
        *,
        now: datetime,
        tz: tzinfo,
        known_fields: Callable[[str], bool] | None,
        known_value: Callable[[str, str], bool] | None,
        date_fields: Callable[[str], bool] | None,
        rank: Callable[[str, str], float | None] | None,
        current_user: Sequence[str],
        week_start: int,
    ) -> None:
        self.src = src
        self.now = now
        self.tz = tz
        self.known_fields = known_fields
        self.known_value = known_value
        self.date_fields = date_fields
        self.rank = rank
        self.current_user = tuple(current_user)
        self.week_start = week_start
        self.eq_key = _eq_key_in(tz)
        self.errors: list[str] = []
        self.fields_used: set[str] = set()
        self._checked: dict[str, bool] = {}

    def error(self, message: str) -> None:
        if message not in self.errors:
            self.errors.append(message)

    def check_field(self, name: str, raw: str) -> bool:
        self.fields_used.add(name)
        if name not in self._checked:
            known = self.known_fields is None or self.known_fields(name)
            self._checked[name] = known
            if not known:
                self.error(
                    f"Field '{raw}' does not exist or you do not have permission to view it."
                )
        return self._checked[name]

    def spec(self, name: str) -> _FieldSpec:
        spec = _SYSTEM_FIELDS.get(name)
        if spec is None:
            if self.date_fields is not None and self.date_fields(name):
                return _SYSTEM_FIELDS["created"]
            return _CUSTOM
        return spec

    # -- nodes
    def node(self, node: _Node) -> Predicate:
        if isinstance(node, _Not):
            inner = self.node(node.inner)
            return lambda issue: not inner(issue)
        if isinstance(node, _Bool):
            parts = tuple(self.node(p) for p in node.parts)
            if node.op == "and":
                if len(parts) == 2:
                    a, b = parts
                    return lambda issue: a(issue) and b(issue)

                def all_of(issue: IssueView) -> bool:
                    return all(p(issue) for p in parts)

                return all_of
            if len(parts) == 2:
                a, b = parts
                return lambda issue: a(issue) or b(issue)

            def any_of(issue: IssueView) -> bool:
                return any(p(issue) for p in parts)

            return any_of
        return self.clause(node)

    def clause(self, c: _Clause) -> Predicate:
        never: Predicate = _never
        if not self.check_field(c.field, c.field_raw):
            return never
        spec = self.spec(c.field)
        if c.op not in spec.ops:
            self.error(f"The operator '{c.op}' is not supported by the '{c.field_raw}' field.")
            return never
        operand = c.operand
        if isinstance(operand, _List) and c.op not in ("in", "not in"):
            self.error(
                f"Operator '{c.op}' does not support the list value '{operand.raw}' for field "
                f"'{c.field_raw}'."
            )
            return never
        if c.op in ("in", "not in") and isinstance(operand, _Value | _Empty):
            self.error(
                f"Operator '{c.op}' does not support the non-list value '{operand.raw}' for "
                f"field '{c.field_raw}'."
            )
            return never
        if c.op in _IS_OPS:
            if not isinstance(operand, _Empty):
                self.error(
                    f"The operator '{c.op}' only supports the values 'EMPTY' and 'NULL', but got "
                    f"'{operand.raw}' for field '{c.field_raw}'."
                )
                return never
            return _is_empty(c.field) if c.op == "is" else _is_not_empty(c.field)

        items: tuple[_Single, ...] = operand.items if isinstance(operand, _List) else (operand,)
        atoms: list[_Atom] = []
        with_empty = False
        errors_before = len(self.errors)
        for item in items:
            if isinstance(item, _Empty):
                with_empty = True
                continue
            resolved = self.resolve(item, c, spec)
            if resolved is None:
                with_empty = True
            else:
                atoms.extend(resolved)
        if len(self.errors) > errors_before:
            return never
        f = c.field

        if c.op in _TEXT_OPS:
            if with_empty and not atoms:
                return _is_empty(f) if c.op == "~" else _is_not_empty(f)
            return _contains(f, atoms[0].text, negate=c.op == "!~") if atoms else never
        if c.op in _ORDER_OPS:
            if with_empty or len(atoms) != 1:
                value = operand.raw
                self.error(
                    f"The operator '{c.op}' does not support the value '{value}' for field "
                    f"'{c.field_raw}'."
                )
                return never
            return self.ordered(c, spec, atoms[0])
        keys = frozenset(k for a in atoms for k in a.keys)
        if c.op in ("=", "in"):
            return _equals(f, keys, with_empty, self.eq_key)
        return _not_equals(f, keys, self.eq_key)

    def resolve(self, item: _Value | _Func, c: _Clause, spec: _FieldSpec) -> list[_Atom] | None:
        """The atoms of one operand item; None means it stands for EMPTY."""
        if isinstance(item, _Func):
            return self.function(item, c)
        text = item.text
        if spec.kind == _KEY:
            m = _KEY_RE.fullmatch(text)
            if m is None and not text.isdigit():
                self.error(f"The issue key '{text}' for field '{c.field_raw}' is invalid.")
                return []
            if self.known_value is not None and not self.known_value(c.field, text):
                self.error(f"An issue with key '{text}' does not exist for field '{c.field_raw}'.")
                return []
            issue_key = (m[1].casefold(), int(m[2])) if m is not None else None
            return [_Atom(frozenset({text.casefold()}), text, issue_key=issue_key)]
        if spec.kind == _DATE:
            when = _parse_date(text, self.now, self.tz)
            if when is None:
                self.error(
                    f"Date value '{text}' for field '{c.field_raw}' is invalid. {_DATE_FORMATS}"
                )
                return []
            return [_Atom(frozenset({when}), text, instant=when)]
        if c.field == "resolution" and text.casefold() == "unresolved":
            return None
        if (
            c.op not in _TEXT_OPS
            and self.known_value is not None
            and not self.known_value(c.field, text)
        ):
            self.error(f"The value '{text}' does not exist for the field '{c.field_raw}'.")
            return []
        keys: set[object] = {text.casefold()}
        instant: datetime | None = None
        number: float | None = None
        rank: float | None = None
        if spec.kind == _ANY:
            instant = _parse_date(text, self.now, self.tz)
            if _NUMBER_RE.fullmatch(text.strip()):
                number = float(text)
                keys.add(number)
            if instant is not None:
                keys.add(instant)
        if spec.kind == _RANKED and self.rank is not None:
            rank = self.rank(c.field, text)
        return [_Atom(frozenset(keys), text, instant=instant, number=number, rank=rank)]

    def function(self, fn: _Func, c: _Clause) -> list[_Atom]:
        name = fn.name.lower()
        if name == "currentuser":
            if fn.args:
                self.error(
                    f"Function 'currentUser' expected '0' arguments but received '{len(fn.args)}'."
                )
                return []
            return [_Atom(frozenset(u.casefold() for u in self.current_user), fn.raw)]
        if name == "now":
            if fn.args:
                self.error(f"Function 'now' expected '0' arguments but received '{len(fn.args)}'.")
                return []
            return [_Atom(frozenset({self.now}), fn.raw, instant=self.now)]
        period = _PERIOD_FUNCTIONS.get(name)
        if period is None:
            self.error(f"Unable to find JQL function '{fn.raw}'.")
            return []
        unit, is_start = period
        if len(fn.args) > 1:
            self.error(
                f"Function '{fn.name}' expected between '0' and '1' arguments but received "
                f"'{len(fn.args)}'."
            )
            return []
        increment: tuple[int, str] | None = None
        if fn.args:
            m = _INCREMENT_RE.fullmatch(fn.args[0].strip())
            if m is None:
                self.error(
                    f"Duration for function '{fn.name}' should have the format (+/-)n(yMwdhm), "
                    "e.g -1M for 1 month earlier."
                )
                return []
            amount = int(m[2])
            increment = (-amount if m[1] == "-" else amount, m[3] or unit)
        try:
            instant = _period_function(
                unit, is_start, increment, self.now, self.tz, self.week_start
            )
        except (OverflowError, ValueError):
            self.error(f"The function '{fn.raw}' gives a date outside the supported range.")
            return []
        return [_Atom(frozenset({instant}), fn.raw, instant=instant)]

    def ordered(self, c: _Clause, spec: _FieldSpec, atom: _Atom) -> Predicate:
        compare = _COMPARE[c.op]
        f = c.field
        if spec.kind == _KEY:
            if atom.issue_key is None:
                self.error(
                    f"The operator '{c.op}' needs an issue key such as 'SUP-10' for field "
                    f"'{c.field_raw}', not '{atom.text}'."
                )
                return _never
            project, key_number = atom.issue_key

            def key_pred(issue: IssueView) -> bool:
                for v in issue.jql_values(f):
                    k = _split_key(v)
                    if k is not None and k[0] == project and compare(k[1], key_number):
                        return True
                return False

            return key_pred
        if spec.kind == _RANKED:
            rank = self.rank
            if rank is None:
                self.error(
                    f"The operator '{c.op}' is not supported by the '{c.field_raw}' field in this "
                    "sandbox (no ranks were configured for it)."
                )
                return _never
            if atom.rank is None:
                self.error(f"The value '{atom.text}' does not exist for the field '{c.field_raw}'.")
                return _never
            limit = atom.rank

            def rank_pred(issue: IssueView) -> bool:
                for v in issue.jql_values(f):
                    r = rank(f, v) if isinstance(v, str) else None
                    if r is not None and compare(r, limit):
                        return True
                return False

            return rank_pred
        instant, number, tz = atom.instant, atom.number, self.tz

        def value_pred(issue: IssueView) -> bool:
            for v in issue.jql_values(f):
                if isinstance(v, datetime):
                    if instant is not None and compare(v, instant):
                        return True
                elif isinstance(v, date):
                    if instant is not None and compare(datetime.combine(v, time(), tz), instant):
                        return True
                elif (
                    isinstance(v, (int, float))
                    and not isinstance(v, bool)
                    and number is not None
                    and compare(v, number)
                ):
                    return True
            return False

        return value_pred


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
}


def _never(issue: IssueView) -> bool:
    return False


def _is_empty(f: str) -> Predicate:
    return lambda issue: not issue.jql_values(f)


def _is_not_empty(f: str) -> Predicate:
    return lambda issue: bool(issue.jql_values(f))


def _equals(
    f: str, keys: frozenset[object], with_empty: bool, eq_key: Callable[[object], object]
) -> Predicate:
    def pred(issue: IssueView) -> bool:
        values = issue.jql_values(f)
        if not values:
            return with_empty
        return any((v.casefold() if type(v) is str else eq_key(v)) in keys for v in values)

    return pred


def _not_equals(f: str, keys: frozenset[object], eq_key: Callable[[object], object]) -> Predicate:
    """!= and NOT IN: Jira never matches an EMPTY field with them, whatever the list holds."""

    def pred(issue: IssueView) -> bool:
        values = issue.jql_values(f)
        if not values:
            return False
        return all((v.casefold() if type(v) is str else eq_key(v)) not in keys for v in values)

    return pred


def _contains(f: str, term: str, *, negate: bool) -> Predicate:
    term = term.strip()
    phrase = len(term) >= 2 and term[0] == term[-1] == '"'
    words = [term[1:-1].casefold()] if phrase else term.casefold().split()
    words = [w for w in words if w.strip("*?")]
    patterns = [
        re.compile(
            ".*".join(".".join(re.escape(p) for p in part.split("?")) for part in w.split("*"))
        )
        if ("*" in w or "?" in w)
        else None
        for w in words
    ]
    checks = list(zip(words, patterns, strict=True))

    def hit(value: object) -> bool:
        text = value.casefold() if isinstance(value, str) else str(value).casefold()
        for word, pattern in checks:
            if pattern is not None:
                if pattern.search(text) is None:
                    return False
            elif word not in text:
                return False
        return True

    def pred(issue: IssueView) -> bool:
        values = issue.jql_values(f)
        if not values:
            return False
        found = any(hit(v) for v in values)
        return not found if negate else found

    return pred


# ---------------------------------------------------------------------------------------------
# Ordering

_EMPTY_SORT: tuple[object, ...] = (1,)


def _sort_key(
    issue: IssueView,
    f: str,
    is_key: bool,
    rank: Callable[[str, str], float | None] | None,
    tz: tzinfo,
) -> tuple[object, ...]:
    value: object | None = None
    sort_value = getattr(issue, "sort_value", None)
    if sort_value is not None:
        value = sort_value(f)
    if value is None:
        values = issue.jql_values(f)
        if not values:
            return _EMPTY_SORT
        value = values[0]
        if rank is not None and isinstance(value, str):
            r = rank(f, value)
            if r is not None:
                return (0, 1, float(r))
    if is_key:
        k = _split_key(value)
        if k is not None:
            return (0, 0, k[0], k[1])
    if isinstance(value, bool):
        return (0, 1, float(value))
    if isinstance(value, (int, float)):
        return (0, 1, float(value))
    if isinstance(value, datetime):
        return (0, 2, value.timestamp())
    if isinstance(value, date):
        return (0, 2, datetime.combine(value, time(), tz).timestamp())
    if isinstance(value, str):
        return (0, 3, value.casefold())
    return (0, 4, str(value).casefold())


_DEFAULT_ORDER: tuple[tuple[str, bool], ...] = (("key", False),)


# ---------------------------------------------------------------------------------------------
# Public


@dataclass(frozen=True)
class Query:
    """A parsed query: ``matches`` per issue, ``sort`` for the hits."""

    jql: str
    order_by: tuple[tuple[str, bool], ...]  # (field, ascending), as written; () = none
    fields_used: frozenset[str]
    _predicate: Predicate | None = field(repr=False, compare=False, default=None)
    _rank: Callable[[str, str], float | None] | None = field(
        repr=False, compare=False, default=None
    )
    _tz: tzinfo = field(repr=False, compare=False, default=UTC)

    def matches(self, issue: IssueView) -> bool:
        return True if self._predicate is None else self._predicate(issue)

    def sort(self, issues: Collection[T]) -> list[T]:
        """A stably sorted copy: by ``order_by``, or ``key DESC`` when the query has none."""
        order = self.order_by or _DEFAULT_ORDER
        rank, tz = self._rank, self._tz
        decorated = [
            (
                tuple(
                    _sort_key(issue, f, f in ("key", "issuekey", "id"), rank, tz) for f, _ in order
                ),
                issue,
            )
            for issue in issues
        ]
        for index in range(len(order) - 1, -1, -1):
            ascending = order[index][1]
            decorated.sort(key=lambda d: d[0][index], reverse=not ascending)
        return [issue for _, issue in decorated]

    def select(self, issues: Collection[T]) -> list[T]:
        """The matching issues, sorted."""
        return self.sort([i for i in issues if self.matches(i)])


def parse(
    jql: str,
    *,
    now: datetime,
    known_fields: Callable[[str], bool] | None = None,
    tz: tzinfo = UTC,
    current_user: Sequence[str] = (),
    known_value: Callable[[str, str], bool] | None = None,
    date_fields: Callable[[str], bool] | None = None,
    rank: Callable[[str, str], float | None] | None = None,
    week_start: int = 6,
) -> Query:
    """Parse and compile ``jql``; raise :class:`JqlError` with Jira's messages if it is bad.

    ``now`` (aware) is the sandbox clock; ``tz`` the searching user's zone for date-only values
    and ``startOf*``/``endOf*``. ``known_fields(name)`` is asked about every field of the query,
    system fields included, and ``known_value(field, value)`` about every literal compared with
    ``= != IN NOT IN < >`` (answer True for fields you do not check); both get lower-cased field
    names, and a False is Jira's error ("Field 'x' does not exist or you do not have permission
    to view it.", "The value 'x' does not exist for the field 'status'.", "An issue with key
    'SUP-999' does not exist for field 'key'."). ``date_fields(name)`` marks custom date
    fields so bad date values are refused (other custom fields compare dates when the issue's
    value is a datetime). ``rank(field, value)`` orders priority/resolution values (larger =
    higher, ``priority > Major`` means more urgent than Major); without it ``priority > x`` is
    refused. ``current_user`` is every identifier ``currentUser()`` stands for.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("parse(now=...) needs a timezone-aware datetime")
    where, order = _Parser(jql).query()
    compiler = _Compiler(
        jql,
        now=now.astimezone(UTC),
        tz=tz,
        known_fields=known_fields,
        known_value=known_value,
        date_fields=date_fields,
        rank=rank,
        current_user=current_user,
        week_start=week_start,
    )
    predicate = compiler.node(where) if where is not None else None
    for name, raw, _ascending in order:
        compiler.check_field(name, raw)
    if compiler.errors:
        raise JqlError(compiler.errors)
    return Query(
        jql=jql,
        order_by=tuple((name, ascending) for name, _raw, ascending in order),
        fields_used=frozenset(compiler.fields_used),
        _predicate=predicate,
        _rank=rank,
        _tz=tz,
    )
