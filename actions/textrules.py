"""Gate rules on typed text: dangerous shell commands, things that look like secrets, long text.

`TypedText` checks what a `type` action (or a run of key presses) would type against named regular
expressions. Text typed in pieces is checked as one: the rule remembers the text of reviewed
`type` and `key` actions (unless denied) until a pointer action or Enter, editing keys included
(`actions.lineedit`: backspace, home, arrows, ctrl+u/w/y, ...). Every pattern is checked against
each view of that text (as typed, with backspaces applied, as a shell's line editor would show it)
and fires when a view holds a match it did not hold before the action (so `rm` then ` -rf /` and
`udo ls`, home, `s` are caught, and an old match is not reported again).
`looks_like_secret` adds an entropy test for long random tokens.
The built-in pattern groups are `DESTRUCTIVE`, `PRIVILEGE`, `PIPE_TO_SHELL` and `SECRETS`; patterns
are case-sensitive (shell commands are) unless they start with `(?i)`.
Not for: proving text is harmless. A determined model can still spell a command in ways no regex
anticipates; the terminal-Enter rule and the window allow-list are the backstops.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from actions.gate import Decision, Verdict
from actions.geometry import Screenshot
from actions.lineedit import TypedLine, key_text
from actions.schema import Action, Click, Key, LeftClickDrag, Type

DESTRUCTIVE: tuple[tuple[str, str], ...] = (
    ("recursive rm", r"\brm\s+(?:[^\n;&|]*\s)?(?:-[a-zA-Z]*[rR][a-zA-Z]*|--recursive)\b"),
    ("rm --no-preserve-root", r"--no-preserve-root"),
    ("mkfs", r"\bmkfs(?:\.\w+)?\b"),
    ("dd onto a device", r"\bdd\b[^\n;]*\bof=/dev/"),
    ("write to a disk device", r">\s*/dev/(?:sd|hd|nvme|vd|xvd|mmcblk|disk)\w*"),
    ("shred / wipefs", r"\b(?:shred|wipefs|blkdiscard)\b"),
    ("fork bomb", r":\s*\(\s*\)\s*\{[^}]*:\s*\|\s*:\s*&|\b(\w+)\s*\(\s*\)\s*\{[^}]*\b\1\s*\|\s*\1\s*&"),
    ("recursive chmod/chown of a system path",
     r"\bch(?:mod|own|grp)\s+(?:\S+\s+)*(?:-[a-zA-Z]*R[a-zA-Z]*|--recursive)\s+(?:\S+\s+)*/(?:\s|$|etc|usr|bin|home|var|boot)"),
    ("chmod 777 /", r"\bchmod\s+(?:-\S+\s+)*0?777\s+/(?:\s|$)"),
    ("find -delete from /", r"\bfind\s+/\S*\s[^\n;]*-delete\b"),
    ("Windows format / recursive delete", r"(?i)\bformat\s+[a-z]:|\b(?:del|erase)\s+/[sq]\b|\b(?:rd|rmdir)\s+/s\b"),
)
PRIVILEGE: tuple[tuple[str, str], ...] = (
    ("sudo", r"\bsudo\b"),
    ("su", r"(?:^|[;&|]\s*|\s)su(?:\s+-|\s+root\b|\s*\n)"),
    ("doas / pkexec / runas", r"\b(?:doas|pkexec|runas)\b"),
)
PIPE_TO_SHELL: tuple[tuple[str, str], ...] = (
    ("download piped to a shell",
     r"\b(?:curl|wget|fetch)\b[^\n]*\|\s*(?:sudo\s+(?:-\S+\s+)*)?(?:env\s+)?(?:ba|z|k|da|fi|tc|c)?sh\b"),
    ("download piped to an interpreter",
     r"\b(?:curl|wget)\b[^\n]*\|\s*(?:sudo\s+)?(?:python[0-9.]*|perl|ruby|node|php)\b"),
    ("shell running a download", r"\b(?:ba|z|k|da)?sh\b\s+(?:-c\s+)?[\"']?(?:\$\(|<\(|`)\s*(?:curl|wget)\b"),
    ("PowerShell running a download",
     r"(?i)\b(?:iex|invoke-expression)\b.*\b(?:iwr|invoke-webrequest|downloadstring)\b"),
)
SECRETS: tuple[tuple[str, str], ...] = (
    ("a private key", r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"),
    ("an AWS access key id", r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b"),
    ("an AWS secret key", r"(?i)aws_secret_access_key\s*[=:]\s*\S{30,}"),
    ("a GitHub token", r"\bgh[pousr]_[A-Za-z0-9]{30,}\b|\bgithub_pat_\w{20,}"),
    ("a Slack token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    ("an API key", r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}|\bAIza[0-9A-Za-z_-]{35}\b"),
    ("a JSON web token", r"\beyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]{8,}"),
)
_TOKEN_SPLIT = re.compile(r"[\s\"'`=:,;()\[\]{}<>/\\|&]+")
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9+_\-.~]+")


def shannon_entropy(text: str) -> float:
    """Bits per character of `text`'s own character distribution."""
    counts, total = Counter(text), len(text)
    return -sum(n / total * math.log2(n / total) for n in counts.values()) if total else 0.0


def looks_like_secret(token: str, min_length: int = 32, min_entropy: float = 4.0) -> bool:
    """A long token of letters and digits whose characters look random (API keys, passwords)."""
    if len(token) < min_length or not _TOKEN_CHARS.fullmatch(token):
        return False
    if not (any(c.isalpha() for c in token) and any(c.isdigit() for c in token)):
        return False
    return shannon_entropy(token) >= min_entropy


@dataclass(frozen=True)
class PatternGroup:
    """Named patterns sharing one verdict; `entropy` also flags random-looking long tokens."""

    name: str
    decision: Decision
    patterns: tuple[tuple[str, str], ...]
    entropy: bool = False

    def compiled(self) -> tuple[tuple[str, re.Pattern[str]], ...]:
        return tuple((label, re.compile(rx)) for label, rx in self.patterns)


class TypedText:
    """Checks typed text (joined with what was just typed before it, edits applied) against pattern groups."""

    name = "typed_text"

    def __init__(self, groups: Sequence[PatternGroup]) -> None:
        self.groups = tuple((g, g.compiled()) for g in groups if g.decision != "allow")
        self._typed = TypedLine()

    def check(self, action: Action, shot: Screenshot) -> Verdict | None:
        if not isinstance(action, Type | Key):
            return None
        after = self._typed.apply(action)
        changed = [(b, a) for b, a in dict.fromkeys(zip(self._typed.views(), after.views(), strict=True)) if a != b]
        new = action.text if isinstance(action, Type) else key_text(action.keys) or ""
        worst: Verdict | None = None
        for group, patterns in self.groups:
            label = _first_new_match(changed, patterns) or (_entropy_hit(new) if group.entropy else None)
            if label is not None and (worst is None or group.decision == "deny"):
                worst = Verdict(group.decision, f"text.{group.name}", f"typed text looks like {label}")
                if group.decision == "deny":
                    break
        return worst

    def observe(self, action: Action, verdict: Verdict) -> None:
        """Remember what an action typed or edited (unless denied); a click, a drag or Enter clears it."""
        if isinstance(action, LeftClickDrag | Click):
            self._typed = TypedLine()
        elif isinstance(action, Type | Key) and verdict.decision != "deny":
            self._typed = self._typed.apply(action).settled()


class TextLength:
    """Typed text longer than `limit` characters gets `decision`."""

    def __init__(self, limit: int, decision: Decision) -> None:
        self.name, self.limit, self.decision = "text_length", limit, decision

    def check(self, action: Action, shot: Screenshot) -> Verdict | None:
        if isinstance(action, Type) and len(action.text) > self.limit and self.decision != "allow":
            return Verdict(self.decision, self.name, f"{len(action.text)} characters is over the limit of {self.limit}")
        return None


def _first_new_match(changed: Sequence[tuple[str, str]], patterns: Sequence[tuple[str, re.Pattern[str]]]) -> str | None:
    """The label of the first pattern matching some view after the action more often than before."""
    for label, pattern in patterns:
        for before, after in changed:
            if Counter(m.group(0) for m in pattern.finditer(after)) - Counter(
                    m.group(0) for m in pattern.finditer(before)):
                return label
    return None


def _entropy_hit(text: str) -> str | None:
    tokens = (t for t in _TOKEN_SPLIT.split(text) if t)
    return "a long random token (a password or key?)" if any(looks_like_secret(t) for t in tokens) else None
