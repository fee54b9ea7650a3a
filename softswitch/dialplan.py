"""The dial plan: what a dialed number means (DESIGN.md "The road", layer 1-2).

`DialPlan.route(dialed, caller)` returns one `Destination`. Rules are tried in order; each
is a `Rule` (a name, a matcher and a function building the destination), so the next issue
plugs in queues (6400-6499, spec/queue-admin.md), feature codes (`*7<queue>` sign in/out,
`*07<queue>*<reason>` pause with a reason) and outbound trunk prefixes by adding rules, without
touching call control: call control only switches on the destination's type.

Decisions:
- Extensions match exactly; the configured extension list wins over every pattern (an
  admin who gives an extension a number in 6400-6499 gets the extension).
- `*43` is the echo test: the switch answers and returns the caller's own audio.
- Feature codes and queue numbers that no module has claimed yet route to `Unavailable`
  (the caller hears 404 Not Found, as for any unknown number), never to an extension.
- Dialed strings are taken from the Request-URI user part; visual separators that phones
  insert ("-", ".", " ", "(", ")") are removed; "+" is kept for the trunk rules.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

ECHO_TEST = "*43"
QUEUE_RANGE = range(6400, 6500)


@dataclass(frozen=True, slots=True)
class Destination:
    """Where a call goes. `kind` is one of the DESIGN.md destination types plus the
    switch-internal ones (`echo`, `feature`, `not_found`, `forbidden`)."""

    kind: str
    target: str = ""
    args: tuple[str, ...] = ()


EXTENSION = "extension"
QUEUE = "queue"
EXTERNAL = "external"
ECHO = "echo"
FEATURE = "feature"
NOT_FOUND = "not_found"
FORBIDDEN = "forbidden"  # the caller may not use the route (target: route, args: (reason,))


@dataclass(frozen=True, slots=True)
class Rule:
    """One dial-plan rule: `match(dialed)` returns a match object or None, `build` turns it
    into a Destination."""

    name: str
    pattern: re.Pattern[str]
    build: Callable[[re.Match[str], str], Destination]

    def apply(self, dialed: str, caller: str) -> Destination | None:
        m = self.pattern.fullmatch(dialed)
        return self.build(m, caller) if m else None


_SEPARATORS = str.maketrans("", "", "-. ()")


def normalize(dialed: str) -> str:
    return dialed.translate(_SEPARATORS)


@dataclass
class DialPlan:
    """Extensions first, then rules in the order added."""

    extensions: frozenset[str] = frozenset()
    rules: list[Rule] = field(default_factory=list)

    @classmethod
    def default(cls, extensions: Iterable[str]) -> DialPlan:
        plan = cls(frozenset(extensions))
        plan.add(Rule("echo test", re.compile(re.escape(ECHO_TEST)),
                      lambda m, caller: Destination(ECHO)))
        return plan

    def add(self, rule: Rule, *, first: bool = False) -> None:
        """Plug in a rule (queues, feature codes, trunks); `first` puts it before the
        others (still after the exact extension match)."""
        if first:
            self.rules.insert(0, rule)
        else:
            self.rules.append(rule)

    def replace(self, rule: Rule) -> None:
        """Put `rule` where the rule of the same name is (a reload: new queue numbers,
        feature codes, outbound prefixes), or add it last when there is none."""
        for i, existing in enumerate(self.rules):
            if existing.name == rule.name:
                self.rules[i] = rule
                return
        self.rules.append(rule)

    def route(self, dialed: str, caller: str = "") -> Destination:
        number = normalize(dialed)
        if number in self.extensions:
            return Destination(EXTENSION, number)
        for rule in self.rules:
            dest = rule.apply(number, caller)
            if dest is not None:
                return dest
        return Destination(NOT_FOUND, number)


def queue_rule(queues: Iterable[str]) -> Rule:
    """The configured queue numbers (6400-6499 by the manual's default) route to `queue`
    destinations."""
    known = sorted(set(queues), key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(q) for q in known) if known else r"(?!x)x")
    return Rule("queues", pattern, lambda m, caller: Destination(QUEUE, m[0]))


def feature_code_rule(code: str, name: str) -> Rule:
    """A feature code with '*'-separated arguments, e.g. feature_code_rule("*07", "pause")
    matches *076401*2 as Destination("feature", "pause", ("6401", "2"))."""
    pattern = re.compile(re.escape(code) + r"(\d+(?:\*\d+)*)?")
    return Rule(f"feature {code}", pattern,
                lambda m, caller: Destination(FEATURE, name,
                                              tuple(m[1].split("*")) if m[1] else ()))


def trunk_rule(prefix: str, trunk: str, strip: bool = True) -> Rule:
    """Numbers starting with `prefix` go out through `trunk`."""
    pattern = re.compile(re.escape(prefix) + r"(\+?\d+)")
    return Rule(f"trunk {trunk}", pattern,
                lambda m, caller: Destination(EXTERNAL, trunk,
                                              (m[1] if strip else m[0],)))
