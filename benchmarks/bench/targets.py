"""dotsync's performance targets, checked against measured figures: pure functions, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

Scenario = Mapping[str, Any]


@dataclass(frozen=True)
class Target:
    name: str
    value: float
    limit: float
    unit: str
    kind: Literal["at_most", "at_least"]
    level: Literal["must", "aim"] = "must"

    @property
    def passed(self) -> bool:
        return self.value <= self.limit if self.kind == "at_most" else self.value >= self.limit

    @property
    def margin(self) -> float:
        """How far inside the limit (positive) or outside it (negative), in ``unit``."""
        return self.limit - self.value if self.kind == "at_most" else self.value - self.limit

    def describe(self) -> str:
        sign = "<=" if self.kind == "at_most" else ">="
        share = f" ({self.margin / self.limit:+.0%})" if self.limit else ""
        verdict = "PASS" if self.passed else "MISS"
        return (
            f"{verdict}  [{self.level}] {self.name}: {_fmt(self.value)} {self.unit} {sign} "
            f"{_fmt(self.limit)} {self.unit}, margin {_fmt(self.margin)} {self.unit}{share}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed, "margin": self.margin}


def _fmt(value: float) -> str:
    if 0 < abs(value) < 1:
        return f"{value:,.3f}"
    return f"{value:,.0f}" if abs(value) >= 100 or value == int(value) else f"{value:,.2f}"


def _imports_submitted(scenario: Scenario) -> int:
    return int(scenario["api_calls_by_endpoint"].get("PUT /contacts/v3/import", 0))


def _share(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def check_targets(
    by_kind: Mapping[str, list[Scenario]],
    *,
    profiles: int,
    startup: Mapping[str, float] | None = None,
    speedup: float | None = None,
    speedup_small: float | None = None,
    speedup_under_limits: float | None = None,
) -> list[Target]:
    """The targets of issue 13 for each source kind measured (scenarios: full, unchanged, first
    refresh after the full, refresh in steady state, each a median), "must" and "aim". Time
    limits stated for one million scale with ``profiles`` (a 2M run is held to 40 s), so that the
    scale runs say whether cost grows linearly; memory and call limits stay absolute."""
    scale = max(1.0, profiles / 1_000_000)
    targets: list[Target] = []
    for kind, scenarios in by_kind.items():
        full, unchanged, _first, changed = scenarios[:4]
        cpu = full["cpu_user_s"] + full["cpu_sys_s"]
        peak = max(s["peak_rss_mb"] for s in scenarios)
        unchanged_share = 100 * _share(unchanged["wall_s"], full["wall_s"])
        changed_share = 100 * _share(changed["wall_s"], full["wall_s"])
        targets += [
            Target(f"{kind}: full export wall", full["wall_s"], 20.0 * scale, "s", "at_most"),
            Target(
                f"{kind}: full export wall", full["wall_s"], 15.0 * scale, "s", "at_most", "aim"
            ),
            Target(f"{kind}: full export CPU", cpu, 10.0 * scale, "s", "at_most"),
            Target(f"{kind}: full export CPU", cpu, 6.0 * scale, "s", "at_most", "aim"),
            Target(f"{kind}: peak RSS, full and refreshes", peak, 450, "MB", "at_most"),
            Target(f"{kind}: peak RSS, full and refreshes", peak, 300, "MB", "at_most", "aim"),
            Target(f"{kind}: unchanged refresh share of the full", unchanged_share, 10, "%",
                   "at_most"),
            Target(f"{kind}: unchanged refresh wall", unchanged["wall_s"], 2.0 * scale, "s",
                   "at_most", "aim"),
            Target(f"{kind}: 1% refresh share of the full", changed_share, 15, "%", "at_most"),
            Target(f"{kind}: 1% refresh wall", changed["wall_s"], 3.0 * scale, "s", "at_most",
                   "aim"),
            Target(f"{kind}: unchanged refresh imports", _imports_submitted(unchanged), 0,
                   "imports", "at_most"),
            Target(f"{kind}: full export API calls", full["api_calls"], 100, "calls", "at_most"),
        ]  # fmt: skip
        wrong = sum(
            (s["membership"]["missing"] + s["membership"]["unexpected"]
             + s["membership"]["duplicated"])
            + (0 if s.get("exact_every_run", True) else 1)
            for s in scenarios
            if s.get("membership") is not None
        )  # fmt: skip
        targets.append(
            Target(f"{kind}: book members differing from the segment", wrong, 0, "e-mails",
                   "at_most")
        )  # fmt: skip
    if startup:
        targets.append(Target("dotsync --help", startup["help_s"], 0.3, "s", "at_most", "aim"))
        targets.append(
            Target("a refresh's Python start", startup["refresh_start_s"], 0.3, "s", "at_most",
                   "aim")
        )  # fmt: skip
    if speedup is not None:
        targets.append(Target("vs one request per contact, 1M", speedup, 100, "x", "at_least"))
    if speedup_small is not None:
        targets.append(
            Target("vs one request per contact, 100k", speedup_small, 50, "x", "at_least", "aim")
        )
    if speedup_under_limits is not None:
        # Not the targets' measure (the line above, both at the emulator's speed): both ways
        # under DotDigital's limits, where the naive way is bound by its call budget.
        targets.append(
            Target("vs one request per contact, both under the tiered limits",
                   speedup_under_limits, 100, "x", "at_least")
        )  # fmt: skip
    return targets
