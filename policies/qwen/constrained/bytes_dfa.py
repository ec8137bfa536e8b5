"""A small regular-language toolkit over bytes: pattern values → NFA → minimal DFA.

For: the tool-call grammar of constrained decoding (`tool_grammar`), which is regular once the
list lengths are bounded. Patterns are frozen values (`Lit`, `Cls`, `Seq`, `Alt`, `Rep`); `compile_dfa`
runs Thompson's construction, the subset construction and Moore's minimization, and returns a
`Dfa` whose states are ints (0 = start) with sparse byte transitions and the byte distance of
every state to an accepting one. Pure Python, no dependencies.
Not for: general regexes (no anchors, look-arounds or captures) or matching text fast.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Union


@dataclass(frozen=True)
class Lit:
    data: bytes


@dataclass(frozen=True)
class Cls:
    chars: frozenset[int]


@dataclass(frozen=True)
class Seq:
    parts: tuple[Pattern, ...]


@dataclass(frozen=True)
class Alt:
    options: tuple[Pattern, ...]


@dataclass(frozen=True)
class Rep:
    inner: Pattern
    low: int = 0
    high: int | None = None  # None = unbounded


Pattern = Union[Lit, Cls, Seq, Alt, Rep]


def lit(text: str) -> Lit:
    return Lit(text.encode("utf-8"))


def seq(*parts: Pattern) -> Seq:
    return Seq(tuple(parts))


def alt(*options: Pattern) -> Alt:
    return Alt(tuple(options))


def byte_range(low: int, high: int) -> Cls:
    return Cls(frozenset(range(low, high + 1)))


@dataclass(frozen=True)
class Dfa:
    """Transitions per state (byte → state), accepting states, byte distance to acceptance."""

    transitions: tuple[dict[int, int], ...]
    accepting: frozenset[int]
    distance: tuple[int, ...]

    def step(self, state: int, data: bytes) -> int | None:
        for byte in data:
            nxt = self.transitions[state].get(byte)
            if nxt is None:
                return None
            state = nxt
        return state

    def matches(self, data: bytes) -> bool:
        end = self.step(0, data)
        return end is not None and end in self.accepting


class _Nfa:
    def __init__(self) -> None:
        self.eps: list[list[int]] = []
        self.edges: list[list[tuple[frozenset[int], int]]] = []

    def new(self) -> int:
        self.eps.append([])
        self.edges.append([])
        return len(self.eps) - 1

    def build(self, p: Pattern) -> tuple[int, int]:
        """Thompson fragment (start, end) for `p`."""
        start = self.new()
        if isinstance(p, (Lit, Cls)):
            end = start
            for chars in ([frozenset((b,)) for b in p.data] if isinstance(p, Lit) else [p.chars]):
                nxt = self.new()
                self.edges[end].append((chars, nxt))
                end = nxt
            return start, end
        if isinstance(p, Seq):
            end = start
            for part in p.parts:
                s, e = self.build(part)
                self.eps[end].append(s)
                end = e
            return start, end
        end = self.new()
        if isinstance(p, Alt):
            for option in p.options:
                s, e = self.build(option)
                self.eps[start].append(s)
                self.eps[e].append(end)
            return start, end
        return self._repeat(p, start, end)

    def _repeat(self, p: Rep, start: int, end: int) -> tuple[int, int]:
        cur = start
        for _ in range(p.low):
            s, e = self.build(p.inner)
            self.eps[cur].append(s)
            cur = e
        self.eps[cur].append(end)
        if p.high is None:
            s, e = self.build(p.inner)
            self.eps[cur].append(s)
            self.eps[e].extend((s, end))
            return start, end
        for _ in range(p.high - p.low):
            s, e = self.build(p.inner)
            self.eps[cur].append(s)
            self.eps[e].append(end)
            cur = e
        return start, end

    def closure(self, states: set[int]) -> frozenset[int]:
        todo, seen = list(states), set(states)
        while todo:
            for nxt in self.eps[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return frozenset(seen)


def compile_dfa(pattern: Pattern) -> Dfa:
    """The minimal DFA of `pattern` (state 0 = start)."""
    nfa = _Nfa()
    start, accept = nfa.build(pattern)
    trans, accepting = _subsets(nfa, start, accept)
    trans, accepting = _minimize(trans, accepting)
    return Dfa(tuple(trans), frozenset(accepting), tuple(_distances(trans, accepting)))


def _subsets(nfa: _Nfa, start: int, accept: int) -> tuple[list[dict[int, int]], set[int]]:
    first = nfa.closure({start})
    index = {first: 0}
    trans: list[dict[int, int]] = [{}]
    todo = [first]
    while todo:
        subset = todo.pop()
        moves: dict[int, set[int]] = {}
        for state in subset:
            for chars, nxt in nfa.edges[state]:
                for byte in chars:
                    moves.setdefault(byte, set()).add(nxt)
        here = trans[index[subset]]
        for byte, targets in moves.items():
            target = nfa.closure(targets)
            if target not in index:
                index[target] = len(trans)
                trans.append({})
                todo.append(target)
            here[byte] = index[target]
    return trans, {i for subset, i in index.items() if accept in subset}


def _minimize(trans: list[dict[int, int]], accepting: set[int]) -> tuple[list[dict[int, int]], set[int]]:
    """Moore's partition refinement; the class of the start state is renumbered to 0."""
    block = [int(s in accepting) for s in range(len(trans))]
    count = len(set(block))
    while True:
        signature = [(block[s], tuple(sorted((b, block[t]) for b, t in trans[s].items()))) for s in range(len(trans))]
        ids: dict[tuple, int] = {}
        block = [ids.setdefault(sig, len(ids)) for sig in signature]
        if len(ids) == count:
            break
        count = len(ids)
    order = {block[0]: 0}
    for b in block:
        order.setdefault(b, len(order))
    new: list[dict[int, int]] = [{} for _ in order]
    for s, moves in enumerate(trans):
        new[order[block[s]]] = {b: order[block[t]] for b, t in moves.items()}
    return new, {order[block[s]] for s in accepting}


def _distances(trans: list[dict[int, int]], accepting: set[int]) -> list[int]:
    """Fewest bytes from each state to an accepting one."""
    return reverse_distances([moves.values() for moves in trans], accepting, len(trans) + 1)


def reverse_distances(successors: Sequence[Iterable[int]], accepting: Iterable[int], far: int) -> list[int]:
    """Fewest edges from each state to one of `accepting` (BFS on the reversed graph); `far` where none.
    `successors[s]` are the states one edge leads to from `s` (the grammar's bytes or the tokens over it)."""
    back: list[set[int]] = [set() for _ in successors]
    for s, targets in enumerate(successors):
        for t in targets:
            back[t].add(s)
    dist = [far] * len(successors)
    queue = deque(accepting)
    for s in queue:
        dist[s] = 0
    while queue:
        s = queue.popleft()
        for prev in back[s]:
            if dist[prev] == far:
                dist[prev] = dist[s] + 1
                queue.append(prev)
    return dist
