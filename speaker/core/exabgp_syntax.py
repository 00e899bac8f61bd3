"""The syntax of an ExaBGP 4.2/5.0 configuration: tokens and the statement tree.

Pure: text in, a tree of statements out (or a SyntaxProblem with its line). It
knows blocks, statements, `[ ]` lists, quoted strings and comments, and
nothing of what the keywords mean (that is speaker.core.exabgp_conf).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

SPECIAL = "{};[]"


class SyntaxProblem(Exception):
    """`SyntaxProblem(line, message)`: what is wrong with the text, and on which line."""

    @property
    def line(self) -> int:
        return int(self.args[0])

    @property
    def message(self) -> str:
        return str(self.args[1])


@dataclass(frozen=True)
class Statement:
    """`words ;` (body None) or `words { body }`."""

    words: tuple[str, ...]
    line: int
    body: tuple[Statement, ...] | None = None

    @property
    def keyword(self) -> str:
        return self.words[0] if self.words else ""


def tokens(text: str) -> Iterator[tuple[str, int]]:
    """(token, line) pairs: words, quoted strings (unquoted) and the characters {};[]."""
    i, line, n = 0, 1, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif c.isspace():
            i += 1
        elif c == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif c in SPECIAL:
            yield c, line
            i += 1
        elif c in "\"'":
            end = text.find(c, i + 1)
            if end < 0:
                raise SyntaxProblem(line, f"unterminated string starting with {c}")
            word = text[i + 1:end]
            yield word, line
            line += word.count("\n")
            i = end + 1
        else:
            start = i
            while i < n and not text[i].isspace() and text[i] not in SPECIAL + "#":
                i += 1
            yield text[start:i], line


def parse(text: str) -> tuple[Statement, ...]:
    """The statement tree; raises SyntaxProblem on unbalanced braces or a missing ';'."""
    stack: list[tuple[list[str], int, list[Statement]]] = [([], 0, [])]
    words: list[str] = []
    first = 0
    for token, line in tokens(text):
        if not words:
            first = line
        if token == ";":
            if words:
                stack[-1][2].append(Statement(tuple(words), first))
            words = []
        elif token == "{":
            if not words:
                raise SyntaxProblem(line, "'{' without a keyword before it")
            stack.append((words, first, []))
            words = []
        elif token == "}":
            if words:
                raise SyntaxProblem(first, f"missing ';' after '{' '.join(words)}'")
            if len(stack) == 1:
                raise SyntaxProblem(line, "'}' without a matching '{'")
            head, start, body = stack.pop()
            stack[-1][2].append(Statement(tuple(head), start, tuple(body)))
        else:
            words.append(token)
    if words:
        raise SyntaxProblem(first, f"missing ';' after '{' '.join(words)}'")
    if len(stack) > 1:
        _, start, _ = stack[-1]
        raise SyntaxProblem(start, f"block '{' '.join(stack[-1][0])}' is never closed")
    return tuple(stack[0][2])


def listed(words: tuple[str, ...]) -> list[str]:
    """The items of `keyword [ a b ]` or `keyword a`."""
    return [w for w in words[1:] if w not in "[]"]
