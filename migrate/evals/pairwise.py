"""The `pairwise` check read back: for each case, did the judge prefer the candidate's answer
or the baseline's, in both orders? Pure: journal entries in, a preference out.

A pair (one sample of each model) is a win or a loss for the candidate only when the judge
says so with the answers in both orders; when the two orders disagree the judge preferred
a position, not an answer, and the pair counts as a tie. A case's win and loss fractions
are over its judged pairs; (wins - losses) / cases is the net preference that the verdict
holds against the dependency's margin (`preference_gate`), with the interval of a pass-rate
difference.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from migrate.evals.judge import ORDERS, pairwise_extra, parse_preference
from migrate.evals.record import Entry, EntryKey, GateResult, Verdict
from migrate.evals.record_pairs import PairwiseCase, PairwiseJudgement, PairwiseSummary
from migrate.evals.stats import AdjustedDecision, holm_decisions, level_text
from migrate.evals.suite import Case, CheckSpec

SHOWN_FIRST = {"AB": "baseline", "BA": "candidate"}


@dataclass
class CasePreference:
    case: str
    pairs: int = 0
    wins: int = 0
    losses: int = 0
    details: list[PairwiseCase] = field(default_factory=list)

    @property
    def win_fraction(self) -> float:
        return self.wins / self.pairs if self.pairs else 0.0

    @property
    def loss_fraction(self) -> float:
        return self.losses / self.pairs if self.pairs else 0.0

    @property
    def outcome(self) -> str:
        if self.loss_fraction >= 0.5:
            return "loss"
        if self.win_fraction >= 0.5:
            return "win"
        return "tie"


@dataclass
class Preference:
    rubric: str | None
    cases: list[CasePreference]  # the judged cases, in suite order
    unjudged: list[str]
    inconsistent: int
    decisive: int  # judgements that named an answer
    first_shown: int  # ... that named the one shown first
    judge_errors: int

    @property
    def n(self) -> int:
        return len(self.cases)

    @property
    def wins(self) -> float:
        return sum(c.win_fraction for c in self.cases)

    @property
    def losses(self) -> float:
        return sum(c.loss_fraction for c in self.cases)

    @property
    def pairs(self) -> int:
        return sum(c.pairs for c in self.cases)

    def ids(self, outcome: str) -> list[str]:
        return [c.case for c in self.cases if c.outcome == outcome]

    def to_record(self, low: float | None, high: float | None, method: str) -> PairwiseSummary:
        pairs = self.pairs
        return PairwiseSummary(
            rubric=self.rubric,
            cases=self.n,
            wins=self.ids("win"),
            losses=self.ids("loss"),
            ties=self.ids("tie"),
            unjudged=self.unjudged,
            net=(self.wins - self.losses) / self.n if self.n else None,
            low=low,
            high=high,
            method=method,
            pairs=pairs,
            inconsistent=self.inconsistent,
            inconsistent_share=self.inconsistent / pairs if pairs else None,
            first_shown_share=self.first_shown / self.decisive if self.decisive else None,
            judge_errors=self.judge_errors,
            details=[d for c in self.cases if c.outcome != "tie" for d in c.details[:1]],
        )


def preference(
    baseline: str,
    candidate: str,
    cases: list[Case],
    samples: int,
    checks_for: dict[str, list[CheckSpec]],
    entries: dict[EntryKey, Entry],
    judge_model: str | None,
) -> Preference | None:
    """The candidate's preference against the baseline; None when no case has a pairwise
    check."""
    judged: list[CasePreference] = []
    unjudged: list[str] = []
    rubric: str | None = None
    seen_check = False
    inconsistent = decisive = first_shown = errors = 0
    for case in cases:
        index = next((i for i, s in enumerate(checks_for[case.id]) if s.type == "pairwise"), None)
        if index is None:
            continue
        seen_check = True
        rubric = rubric or checks_for[case.id][index].rubric
        result = CasePreference(case.id)
        for sample in range(samples):
            answers = [
                entries.get(("generate", m, case.id, sample, "")) for m in (baseline, candidate)
            ]
            if any(a is None or a.record.error is not None for a in answers):
                continue
            verdicts = []
            for order in ORDERS:
                extra = pairwise_extra(candidate, index, order)
                entry = entries.get(("judge", judge_model or "", case.id, sample, extra))
                parsed = parse_preference(entry.record.text) if entry else None
                verdicts.append((order, parsed))
            if any(parsed is None for _, parsed in verdicts):
                errors += 1
                continue
            judgements = []
            for order, parsed in verdicts:
                assert parsed is not None
                winner, reasoning = parsed
                if winner != "tie":
                    decisive += 1
                    first_shown += winner == "A"
                judgements.append(
                    PairwiseJudgement(
                        shown_first=SHOWN_FIRST[order],
                        winner=_whose(winner, order),
                        reasoning=reasoning,
                    )
                )
            outcomes = {j.winner for j in judgements}
            if len(outcomes) > 1:
                inconsistent += 1
            agreed = outcomes.pop() if len(outcomes) == 1 else "tie"
            result.pairs += 1
            result.wins += agreed == "candidate"
            result.losses += agreed == "baseline"
            base_entry, cand_entry = answers
            assert base_entry is not None and cand_entry is not None
            result.details.append(
                PairwiseCase(
                    case=case.id,
                    sample=sample,
                    outcome={"candidate": "win", "baseline": "loss"}.get(agreed, "tie"),
                    baseline=base_entry.record.text or "",
                    candidate=cand_entry.record.text or "",
                    judgements=judgements,
                )
            )
        if result.pairs:
            result.details.sort(key=lambda d: d.outcome != result.outcome)  # its own first
            judged.append(result)
        else:
            unjudged.append(case.id)
    if not seen_check:
        return None
    return Preference(rubric, judged, unjudged, inconsistent, decisive, first_shown, errors)


def _whose(winner: str, order: str) -> str:
    """ "A" / "B" / "tie" in `order` -> "baseline" / "candidate" / "tie"."""
    if winner == "tie":
        return "tie"
    first = SHOWN_FIRST[order]
    second = "candidate" if first == "baseline" else "baseline"
    return first if winner == "A" else second


# --- the pairwise gate ------------------------------------------------------------------------


def preference_fractions(preference: Preference) -> tuple[list[float], list[float]]:
    """Each judged case's loss and win fractions: as (baseline, candidate) pass fractions,
    their difference is the case's net preference, and the paired interval applies."""
    return [c.loss_fraction for c in preference.cases], [c.win_fraction for c in preference.cases]


def preference_gate(
    preference: Preference,
    samples: int,
    margin: float,
    decision: AdjustedDecision | None = None,
    family: int = 1,
) -> tuple[PairwiseSummary, GateResult]:
    """The net preference (wins - losses) / cases held against the margin with the
    interval of a pass-rate difference (Tango's for one sample per case, the clustered score
    interval for more); `decision` when it was Holm-adjusted across `family` candidates."""
    if preference.n == 0:
        detail = "no case could be judged side by side (an answer or a verdict is missing)"
        gate = GateResult(
            name="pairwise", threshold=margin, observed=None, status="unclear", detail=detail
        )
        return preference.to_record(None, None, "none"), gate
    if decision is None:
        decision = holm_decisions({"": preference_fractions(preference)}, samples, margin)[""]
    difference = decision.difference
    interval = difference.interval
    record = preference.to_record(interval.low, interval.high, difference.method)
    text = (
        f"{len(record.wins)} wins, {len(record.losses)} losses, {len(record.ties)} ties over "
        f"{preference.n} cases: net {difference.estimate * 100:+.1f} pts, "
        f"{level_text(decision.level)} interval [{interval.low * 100:+.1f} pts, "
        f"{interval.high * 100:+.1f} pts], margin -{margin * 100:.1f} pts"
    )
    if family > 1:
        text += (
            f" (Holm-adjusted across {family} candidates: margin test p = "
            f"{decision.p_value:.3g}, adjusted p = {decision.adjusted_p_value:.3g})"
        )
    if record.inconsistent_share:
        text += f"; {record.inconsistent_share * 100:.0f}% of judgements changed with the order"
    gate = GateResult(
        name="pairwise",
        threshold=margin,
        observed=difference.estimate,
        status=decision.status,
        detail=text,
    )
    return record, gate


def explain_preference(
    verdict: Verdict,
    record: PairwiseSummary,
    margin: float,
    explanation: str,
    settle: str,
    gates: list[GateResult],
    level: float = 0.95,
) -> str:
    """The explanation of a run whose suite has a pairwise check, in its own terms; `settle`
    says how many cases would settle an unclear gate, `level` is the interval's."""
    if verdict is Verdict.FAIL or record.net is None or record.low is None:
        return explanation
    judged = (
        f"Judged side by side over {record.cases} cases, the candidate wins "
        f"{len(record.wins)}, loses {len(record.losses)} and ties {len(record.ties)}"
    )
    confidence = level_text(level)
    if verdict is Verdict.PASS:
        return (
            f"{judged}: its net preference is at worst {record.low * 100:+.1f} pts ({confidence} "
            f"confidence), inside the -{margin * 100:.1f} pts margin, and every other gate holds."
        )
    unclear = [g.name for g in gates if g.status == "unclear"]
    if "pass_rate_drop" in unclear or "pairwise" not in unclear:
        return f"{judged}. {explanation}"
    if not record.wins and not record.losses:
        parts = [
            f"{judged}, but {record.cases} cases cannot rule out a net loss of up to "
            f"{-record.low * 100:.1f} pts, more than the {margin * 100:.1f} pts margin."
        ]
    else:
        parts = [
            f"{judged}: the {confidence} interval of its net preference "
            f"[{record.low * 100:+.1f} pts, {(record.high or 0.0) * 100:+.1f} pts] straddles "
            f"the -{margin * 100:.1f} pts margin."
        ]
    parts.append(settle)
    others = [g for g in unclear if g != "pairwise"]
    if others:
        parts.append(f"Unclear gates: {', '.join(others)}.")
    return " ".join(parts)
