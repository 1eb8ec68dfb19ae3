"""How the engine splits the inside of a selector into rules: Redis's `sdssplitargs`, ported.

A top-level rule is one argument of `ACL SETUSER`; the text between a selector's `(` and `)`
is split again by the engine (Redis 7.0 `aclCreateSelectorFromOpSet`), with the argument
splitter of its command line: blanks are skipped, a rule ends at a space, tab, line break or
carriage return, and double and single quotes group and escape. Malformed quoting makes the
splitter fail, and the engine then keeps the selector with no rule in it. Measured on
`redis-server` 7.0 (tests/test_access_string.py compares every verdict with it).
"""

from __future__ import annotations

# C's isspace() in the C locale: what the splitter skips before a rule.
BLANKS = frozenset(" \t\n\r\v\f")
# What ends a rule outside quotes (a vertical tab or form feed does not).
ENDS = frozenset(" \t\n\r")
ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "a": "\a"}
HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def is_hex(pair: str) -> bool:
    return len(pair) == 2 and set(pair) <= HEX_DIGITS


def split_args(text: str) -> list[str] | None:
    """The rules the engine reads from `text`, or None when its quoting is malformed (an
    unterminated quote, or a closing quote followed by something other than a blank)."""
    line = text.split("\0", 1)[0]  # the C splitter stops at a NUL
    args: list[str] = []
    at = 0
    while True:
        while at < len(line) and line[at] in BLANKS:
            at += 1
        if at == len(line):
            return args
        current, quote = [], ""
        while True:
            char = line[at] if at < len(line) else ""
            after = line[at + 1] if at + 1 < len(line) else ""
            if quote:
                if quote == '"' and char == "\\" and after == "x" and is_hex(line[at + 2 : at + 4]):
                    current.append(chr(int(line[at + 2 : at + 4], 16)))
                    at += 3
                elif char == "\\" and (after == "'" if quote == "'" else bool(after)):
                    current.append(ESCAPES.get(after, after))
                    at += 1
                elif char == quote:
                    if after and after not in BLANKS:
                        return None
                    at += 1
                    break
                elif not char:
                    return None
                else:
                    current.append(char)
            elif not char or char in ENDS:
                break
            elif char in "\"'":
                quote = char
            else:
                current.append(char)
            at += 1
        args.append("".join(current))
