"""Regex safety for screening rules: does a pattern risk catastrophic backtracking?

:func:`backtracking_risk` runs cheap structural checks on the parsed pattern (nested or
alternating unbounded repeats, too many unbounded wildcards) and says why a pattern is refused;
:func:`vetting.screening.leads.check_categories` calls it so a rule that could hang the screener is
refused when the procedure is loaded. Conservative by design: a refused pattern can be
rewritten, a hung screening cannot be undone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

try:  # Python 3.11+: the parser lives in re._parser; older name kept for safety
    from re import _constants as _sre
    from re import _parser as _sre_parse
except ImportError:  # pragma: no cover
    import sre_constants as _sre  # type: ignore[no-redef]
    import sre_parse as _sre_parse  # type: ignore[no-redef]

__all__ = ["backtracking_risk"]


def _is_broad(op: object, av: object) -> bool:
    """Does a repeated atom match most characters (".", "\\w", "\\S", "[^x]")?"""
    if op in (_sre.ANY, _sre.NOT_LITERAL):
        return True
    if op == _sre.IN:
        items = list(av)  # type: ignore[call-overload]
        if any(o == _sre.NEGATE for o, _ in items):
            return True
        narrow = (_sre.CATEGORY_SPACE, _sre.CATEGORY_DIGIT)
        return any(o == _sre.CATEGORY and a not in narrow for o, a in items)
    return False


_CATEGORY_TEST = {
    _sre.CATEGORY_DIGIT: str.isdigit,
    _sre.CATEGORY_NOT_DIGIT: lambda c: not c.isdigit(),
    _sre.CATEGORY_SPACE: str.isspace,
    _sre.CATEGORY_NOT_SPACE: lambda c: not c.isspace(),
    _sre.CATEGORY_WORD: lambda c: c.isalnum() or c == "_",
    _sre.CATEGORY_NOT_WORD: lambda c: not (c.isalnum() or c == "_"),
}


def _atom_can_match(op: object, av: object, ch: str) -> bool:
    """Can this single-character atom match ``ch``? Unknown shapes answer True."""
    if op == _sre.LITERAL:
        return chr(av).lower() == ch  # type: ignore[arg-type]
    if op == _sre.NOT_LITERAL:
        return chr(av).lower() != ch  # type: ignore[arg-type]
    if op == _sre.ANY:
        return ch != "\n"
    if op == _sre.IN:
        negate, hit = False, False
        for o, a in av:  # type: ignore[attr-defined]
            if o == _sre.NEGATE:
                negate = True
            elif o == _sre.LITERAL:
                hit = hit or chr(a).lower() == ch or chr(a).upper() == ch.upper()
            elif o == _sre.RANGE:
                hit = hit or a[0] <= ord(ch) <= a[1] or a[0] <= ord(ch.upper()) <= a[1]
            elif o == _sre.CATEGORY and a in _CATEGORY_TEST:
                hit = hit or _CATEGORY_TEST[a](ch)
            else:
                return True
        return hit != negate
    return True


def _atoms(items: Sequence[tuple[object, object]]) -> Iterable[tuple[object, object]]:
    for op, av in items:
        if op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT, _sre.POSSESSIVE_REPEAT):
            yield from _atoms(list(av[2]))  # type: ignore[index]
        elif op in (_sre.SUBPATTERN, _sre.ATOMIC_GROUP):
            yield from _atoms(list(av[-1] if op == _sre.SUBPATTERN else av))  # type: ignore[index,arg-type]
        elif op == _sre.BRANCH:
            for alt in av[1]:  # type: ignore[index]
                yield from _atoms(list(alt))
        elif op in (_sre.ASSERT, _sre.ASSERT_NOT, _sre.AT):
            continue
        else:
            yield op, av


def _first_chars(items: Sequence[tuple[object, object]]) -> frozenset[str] | None:
    """Characters a sequence must start with, or None when unknown/too broad."""
    items = [(op, av) for op, av in items if op not in (_sre.AT, _sre.ASSERT, _sre.ASSERT_NOT)]
    if not items:
        return None
    op, av = items[0]
    if op == _sre.LITERAL:
        return frozenset({chr(av).lower()})  # type: ignore[arg-type]
    if op == _sre.IN:
        out: set[str] = set()
        for o, a in av:  # type: ignore[attr-defined]
            if o == _sre.LITERAL:
                out.add(chr(a).lower())
            elif o == _sre.RANGE and a[1] - a[0] < 256:
                out |= {chr(c).lower() for c in range(a[0], a[1] + 1)}
            else:
                return None
        return frozenset(out)
    if op == _sre.SUBPATTERN:
        return _first_chars(list(av[-1]))  # type: ignore[index]
    if op == _sre.BRANCH:
        sets = [_first_chars(list(alt)) for alt in av[1]]  # type: ignore[index]
        if any(x is None for x in sets):
            return None
        return frozenset().union(*sets)  # type: ignore[arg-type]
    if op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT) and av[0] >= 1:  # type: ignore[index]
        return _first_chars(list(av[2]))  # type: ignore[index]
    return None


def _variable_repeats(items: Sequence[tuple[object, object]]) -> Iterable[tuple[float, list]]:
    """(how many lengths it allows, body) of every variable repeat inside ``items``."""
    for op, av in items:
        if op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT):
            lo, hi, body = av  # type: ignore[misc]
            if hi != lo:
                yield (float("inf") if hi == _sre.MAXREPEAT else hi - lo), list(body)
            yield from _variable_repeats(list(body))
        elif op == _sre.SUBPATTERN:
            yield from _variable_repeats(list(av[-1]))  # type: ignore[index]
        elif op == _sre.BRANCH:
            for alt in av[1]:  # type: ignore[index]
                yield from _variable_repeats(list(alt))


_SAMPLE = [chr(c) for c in range(32, 127)] + ["\n", "\t", "é", "ß", "ж", "\u00a0", "_"]
_SINGLE = (_sre.LITERAL, _sre.NOT_LITERAL, _sre.ANY, _sre.IN)


def _disjoint(a: tuple[object, object], b: tuple[object, object]) -> bool:
    """No sample character is matched by both single-character atoms."""
    return not any(_atom_can_match(*a, ch) and _atom_can_match(*b, ch) for ch in _SAMPLE)


def _flatten(body: list[tuple[object, object]]) -> list[tuple[object, object]]:
    while len(body) == 1 and body[0][0] == _sre.SUBPATTERN:
        body = list(body[0][1][-1])  # type: ignore[index]
    return body


def _separated(body: list[tuple[object, object]]) -> bool:
    """Is every variable repeat in ``body`` a run of one atom followed by an atom it cannot
    match (the next element, or the first of the next round)? Then the rounds split one way
    only: "(?:\\s+\\w+)+", "(?:[^,]+,)+", "(\\w+ ){0,3}"."""
    items = _flatten(body)
    if not items:
        return False
    for i, (op, av) in enumerate(items):
        if op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT):
            lo, hi, rbody = av  # type: ignore[misc]
            rbody = list(rbody)
            if lo == hi and not list(_variable_repeats(rbody)):
                continue  # fixed length
            if len(rbody) != 1 or rbody[0][0] not in _SINGLE:
                return False
            nxt = items[i + 1] if i + 1 < len(items) else items[0]
            if nxt[0] in (_sre.MAX_REPEAT, _sre.MIN_REPEAT):
                nlo, _, nbody = nxt[1]  # type: ignore[misc]
                nbody = list(nbody)
                if nlo < 1 or len(nbody) != 1 or nbody[0][0] not in _SINGLE:
                    return False
                nxt = nbody[0]
            if nxt[0] not in _SINGLE or not _disjoint(rbody[0], nxt):
                return False
        elif op in (_sre.SUBPATTERN, _sre.BRANCH) and list(_variable_repeats([(op, av)])):
            return False
    return True


def _ambiguous_iterations(body: list[tuple[object, object]], outer: float) -> bool:
    """Can one text be split into rounds of ``body`` in many ways?

    Safe when the variable parts are separated by characters they cannot eat (see
    :func:`_separated`), or when every round starts with a character no variable repeat inside
    can consume ("(?:very\\s+)+"); otherwise risky once inner and outer counts multiply past 100.
    """
    inner = list(_variable_repeats(body))
    if not inner or _separated(body):
        return False
    first = _first_chars(body)
    if first is not None and not any(
            _atom_can_match(op, av, ch) for _, rb in inner for op, av in _atoms(rb) for ch in first):
        return False
    return max(v for v, _ in inner) * outer > 100


def backtracking_risk(pattern: str) -> str | None:
    """Explain why ``pattern`` risks catastrophic backtracking, or return None.

    Cheap structural checks on the parsed pattern, conservative by design (a refused pattern
    can be rewritten; a hung screening cannot be undone):

    * a repeat that can run more than once around something of variable length, where the
      rounds can be split in many ways: ``(a+)+``, ``(\\w+\\s?)*``, ``(\\w+ ){0,3}`` (write
      ``(\\w{1,20} ){0,3}`` or ``(?:\\s+\\w+){0,3}`` instead);
    * a repeated alternation whose branches can start with the same character, ``(a|ab)*``;
    * three or more unbounded wildcards (``.*``, ``\\w+``, ``[^x]+``) in one pattern.
    """
    try:
        parsed = _sre_parse.parse(pattern, re.IGNORECASE)
    except re.error:
        return None  # compile() reports it
    broad = 0

    def walk(items: Sequence[tuple[object, object]]) -> str | None:
        nonlocal broad
        for op, av in items:
            children: list[list[tuple[object, object]]] = []
            if op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT):
                _, hi, body = av  # type: ignore[misc]
                body = list(body)
                if hi == _sre.MAXREPEAT and len(body) == 1 and _is_broad(*body[0]):
                    broad += 1
                if hi == _sre.MAXREPEAT or hi > 1:
                    outer = float("inf") if hi == _sre.MAXREPEAT else float(hi)
                    if _ambiguous_iterations(body, outer):
                        return "a repeated group contains a variable-length repeat (nested quantifier)"
                    if _overlapping_branches(body):
                        return "a repeated alternation has branches that start alike"
                children = [body]
            elif op == _sre.SUBPATTERN:
                children = [list(av[-1])]  # type: ignore[index]
            elif op == _sre.BRANCH:
                children = [list(alt) for alt in av[1]]  # type: ignore[index]
            elif op in (_sre.ASSERT, _sre.ASSERT_NOT):
                children = [list(av[1])]  # type: ignore[index]
            for child in children:
                found = walk(child)
                if found:
                    return found
        return None

    reason = walk(list(parsed))
    if reason:
        return reason
    if broad >= 3:
        return "three or more unbounded wildcards (.*, \\w+, [^x]+) in one pattern"
    return None


def _overlapping_branches(body: Sequence[tuple[object, object]]) -> bool:
    items = list(body)
    while len(items) == 1 and items[0][0] == _sre.SUBPATTERN:
        items = list(items[0][1][-1])  # type: ignore[index]
    for op, av in items:
        if op != _sre.BRANCH:
            continue
        firsts = [_first_chars(list(alt)) for alt in av[1]]  # type: ignore[index]
        for i, a in enumerate(firsts):
            for b in firsts[i + 1:]:
                if a is None or b is None or a & b:
                    return True
    return False
