"""A second, deliberately naive implementation of the central-view contract, for tests.

Plain Python, row by row, written from DHSC's SQL and the contract's rules without the
package's code (only the defined lists come from the specification), so that the package's
Polars implementation is checked against something independent on messy generated returns.
Slow by design: for test-sized returns only.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections import defaultdict
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from cld_polars.spec import load_spec

SPEC = load_spec()
BUCKETS = ("request", "assessment", "service", "review", "other")
NUMBER = re.compile(r"[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)")
HIERARCHY = [
    "Progress to reablement/ST-Max",
    "Progress to assessment, review or reassessment",
    "Release 1 specification only: Not mapped",
    "Progress to support planning or services",
    "Continuation of support or services",
    "Admitted to hospital",
    "NFA: Responsibility moved to another local authority",
    "NFA: Referral to NHS services or NHS funded social care",
    "NFA: Self-funded client or under 12wk disregard",
    "NFA: Information and advice or signposting",
    "NFA: Referral to other service within the local authority",
    "NFA: Support declined",
    "NFA: Deceased",
    "NFA: Support ended as planned",
    "NFA: Support ended for other reason",
    "NFA: No services offered for other reason",
    "NFA: Other",
]
FACTORS = [
    ("week", Decimal("1.0")),
    ("fortnight", Decimal("0.500000")),
    ("4-week", Decimal("0.250000")),
    ("month", Decimal("0.230769")),
    ("quarter", Decimal("0.076923")),
    ("annual", Decimal("0.019230")),
]


def key(value: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", value.lower()).strip("_")


def fold_header(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def read_rows(path: Path) -> list[dict[str, str | None]]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252")
    reader = csv.reader(text.splitlines(keepends=True))
    header = next(reader)
    wanted = {fold_header(f): f for f in SPEC.header}
    index = {wanted[fold_header(h)]: i for i, h in enumerate(header) if fold_header(h) in wanted}
    rows = []
    for record in reader:
        if not record or (len(record) == 1 and not record[0].strip()):  # a blank line
            continue
        row: dict[str, str | None] = {}
        for name in SPEC.header:
            i = index.get(name)
            value = record[i] if i is not None and i < len(record) else ""
            value = value.strip(" \t\r\n")
            row[name] = value or None
        rows.append(row)
    return rows


def parse_date(value: str | None) -> dt.date | None:
    if value is None or not re.fullmatch(r"[0-9]{2}/[0-9]{2}/[0-9]{4}", value):
        return None
    try:
        return dt.datetime.strptime(value, "%d/%m/%Y").date()
    except ValueError:
        return None


def numeric(value: str | None) -> Decimal | None:
    if value is None or not NUMBER.fullmatch(value):
        return None
    number = Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if abs(number) >= Decimal(10) ** 16:
        return None
    return number + 0  # no negative zero


def mapped(value: str | None, values: tuple[str, ...]) -> str | None:
    if value is None:
        return None
    for v in values:
        if v.lower() == value.lower():
            return v
    return None


def lower(value: str | None) -> str | None:
    return None if value is None else value.lower()


def eomonth(day: dt.date) -> dt.date:
    nxt = dt.date(day.year + (day.month == 12), day.month % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


def add_months(day: dt.date, n: int) -> dt.date:
    m = day.month - 1 + n
    year, month = day.year + m // 12, m % 12 + 1
    last = eomonth(dt.date(year, month, 1)).day
    return dt.date(year, month, min(day.day, last))


def length(a: dt.date | None, b: dt.date | None) -> int | None:
    if a is None or b is None:
        return None
    q = Decimal((b - a).days) / Decimal("30.436875")
    return int(q.quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def iso(d: dt.date | None) -> str | None:
    return None if d is None else d.isoformat()


def central(
    path: Path,
    import_date: dt.date | None = None,
    period: tuple[dt.date, dt.date] | None = None,
) -> dict[str, Any]:
    # Rows gain derived keys (dates, the person) as the steps go: any value from here on.
    rows: list[dict[str, Any]] = list(read_rows(path))
    for n, r in enumerate(rows, 1):
        r["_id"] = n
    starts = [parse_date(r["Reporting Period Start Date"]) for r in rows]
    ends = [parse_date(r["Reporting Period End Date"]) for r in rows]
    s_start = min((d for d in starts if d), default=None)
    s_end = max((d for d in ends if d), default=None)
    pairs = {(iso(a) or "") + (iso(b) or "") for a, b in zip(starts, ends, strict=True)}
    if import_date is None:
        assert s_end is not None
        import_date = add_months(s_end + dt.timedelta(days=1), 1)
    cutoff = import_date.replace(day=1)
    months: dict[dt.date, list[Any]] = defaultdict(lambda: [0, set()])
    for r in rows:
        e = parse_date(r["Event End Date"])
        if e is not None and e < cutoff:
            m = months[e.replace(day=1)]
            m[0] += 1
            if r["Event Type"] is not None:
                m[1].add(r["Event Type"].lower())
    total = sum(m[0] for m in months.values())
    most = max((len(m[1]) for m in months.values()), default=0)
    qualifying = [
        month
        for month, (n, types) in months.items()
        if total < 100 or (100 * n >= 2 * total and len(types) >= most - 1)
    ]
    d_start = min(qualifying) if qualifying else None
    d_end = eomonth(max(qualifying)) if qualifying else None
    if period is None:
        chosen = (s_start, s_end) if s_start and s_end else (d_start, d_end)
        assert chosen[0] is not None and chosen[1] is not None, "no period to take"
        period = (chosen[0], chosen[1])
    ps, pe = period
    selected = bool(d_start and d_end and d_start <= ps and d_end >= pe and import_date > pe)

    def bucket(r: dict[str, Any]) -> str:
        t = lower(r["Event Type"])
        return t if t in BUCKETS[:4] else "other"

    kept = []
    for r in rows:
        t = lower(r["Event Type"])
        start = parse_date(r["Event Start Date"])
        end = parse_date(r["Event End Date"])
        death = parse_date(r["Date of Death"])
        der = end
        if death is not None and start is not None:
            if (end is not None and start <= death <= end) or (death > start and end is None):
                der = death
        r["_start"], r["_end"], r["_death"] = start, der, death
        if t is None or start is None or start > pe:
            continue
        if "service" in t:
            ok = der is None or der >= ps
        else:
            ok = der is not None and ps <= der <= pe
        if ok and (death is None or (death >= ps and death >= start)):
            kept.append(r)
    counts = {b: 0 for b in BUCKETS}
    for r in rows:
        counts[bucket(r)] += 1
    in_period = {b: 0 for b in BUCKETS}
    for r in kept:
        in_period[bucket(r)] += 1
    nhs_people, la_people, everyone = set(), set(), set()
    from_nhs = from_la = none = 0
    into = []
    for r in kept:
        if r["NHS Number"] is not None:
            pid = r["NHS Number"].lower()
            from_nhs += 1
            nhs_people.add(pid)
        elif r["LA Person Unique Identifier"] is not None:
            pid = f"{r['LA Code'] or ''}_{r['LA Person Unique Identifier']}".lower()
            from_la += 1
            la_people.add(pid)
        else:
            none += 1
            continue
        everyone.add(pid)
        r["_person"] = pid
        into.append(r)
    lists = {
        "outcome": SPEC.values("Event Outcome"),
        "route": SPEC.values("Request: Route of Access"),
        "assessment": SPEC.values("Assessment Type"),
        "service": SPEC.values("Service Type"),
        "reason": SPEC.values("Review Reason"),
        "delivery": SPEC.values("Delivery Mechanism"),
        "frequency": SPEC.values("Cost Frequency (Unit Type)"),
    }
    partitions: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in into:
        t = r["Event Type"].lower()
        svc = "service" in t
        ref = (
            lower(r["LA Code"]),
            r["_start"],
            None if svc else r["_end"],
            lower(r["Client Type"]),
            r["_person"],
            t,
            lower(r["Request: Route of Access"]) if "request" in t else None,
            lower(r["Assessment Type"]) if "assessment" in t else None,
            lower(r["Service Type"]) if svc else None,
            lower(r["Service Component"]) if svc else None,
        )
        extra = (
            (
                mapped(r["Delivery Mechanism"], lists["delivery"]) or "",
                str(numeric(r["Unit Cost"])) if numeric(r["Unit Cost"]) is not None else "",
                mapped(r["Cost Frequency (Unit Type)"], lists["frequency"]) or "",
                str(numeric(r["Planned units per week"]))
                if numeric(r["Planned units per week"]) is not None
                else "",
            )
            if svc
            else (None,) * 4
        )
        partitions[ref + extra].append(r)

    def rank(r: dict[str, Any]) -> tuple[Any, ...]:
        end = r["_end"] if r["_end"] is not None else dt.date(9999, 1, 1)
        outcome = mapped(r["Event Outcome"], lists["outcome"])
        h = HIERARCHY.index(outcome) + 1 if outcome in HIERARCHY else 999
        return (-end.toordinal(), h, -r["_id"])

    unique = [min(group, key=rank) for group in partitions.values()]
    u_counts = {b: 0 for b in BUCKETS}
    into_counts = {b: 0 for b in BUCKETS}
    for r in unique:
        u_counts[bucket(r)] += 1
    for r in into:
        into_counts[bucket(r)] += 1

    def category(field: str, lst: str, subset: list[dict[str, Any]]) -> dict[str, int]:
        out = {key(v): 0 for v in lists[lst]}
        out["null"] = 0
        for r in subset:
            v = mapped(r[field], lists[lst])
            out[key(v) if v else "null"] += 1
        return out

    services = [r for r in unique if bucket(r) == "service"]
    by_type = category("Service Type", "service", services)
    grouped = {"long_term_support": 0, "short_term_support": 0, "unpaid_carer_support": 0}
    grouped["null"] = by_type["null"]
    for v in lists["service"]:
        grouped[key(v.split(":")[0])] += by_type[key(v)]
    lts = [
        r
        for r in services
        if (mapped(r["Service Type"], lists["service"]) or "").startswith("Long term support")
    ]
    covering = [r for r in lts if r["_start"] <= pe and (r["_end"] is None or r["_end"] >= pe)]
    by_setting = {
        key(v): len(
            {r["_person"] for r in covering if mapped(r["Service Type"], lists["service"]) == v}
        )
        for v in lists["service"]
        if v.startswith("Long term support")
    }

    def lts_flag(subset: list[dict[str, Any]]) -> dict[str, int]:
        yes = 0
        for r in subset:
            for s in lts:
                if (
                    r["LA Code"] is not None
                    and s["LA Code"] is not None
                    and r["LA Code"].lower() == s["LA Code"].lower()
                    and r["_person"] == s["_person"]
                    and (
                        (s["_end"] is not None and s["_start"] <= r["_start"] <= s["_end"])
                        or (s["_end"] is None and r["_start"] >= s["_start"])
                    )
                ):
                    yes += 1
                    break
        return {"yes": yes, "no": len(subset) - yes}

    requests = [r for r in unique if bucket(r) == "request"]
    assessments = [r for r in unique if bucket(r) == "assessment"]
    reviews = [r for r in unique if bucket(r) == "review"]
    outcome_groups = {
        key(g): 0
        for g in (
            "Progress to reablement/ST-Max",
            "Progress to assessment, review or reassessment",
            "Progress to support planning or services",
            "Continuation of support or services",
            "Admitted to hospital",
            "NFA",
        )
    }
    outcome_groups["null"] = 0
    for r in requests:
        outcome = mapped(r["Event Outcome"], lists["outcome"])
        outcome_groups[
            "null" if outcome is None else "nfa" if outcome.startswith("NFA") else key(outcome)
        ] += 1
    review_types = {
        "planned_review_of_long_term_support": 0,
        "unplanned": 0,
        "review_of_short_term_support": 0,
        "null": 0,
    }
    for r in reviews:
        reason = mapped(r["Review Reason"], lists["reason"])
        if reason is None:
            review_types["null"] += 1
        elif reason.lower().startswith("unplanned"):
            review_types["unplanned"] += 1
        elif reason.lower().startswith("planned"):
            review_types["planned_review_of_long_term_support"] += 1
        else:
            review_types["review_of_short_term_support"] += 1

    qs = add_months(pe.replace(day=1), -2)
    blocks: dict[str | None, list[tuple[float | None, float]]] = defaultdict(list)
    for r in services:
        if not ((r["_end"] is None or r["_end"] >= qs) and r["_start"] <= pe):
            continue
        cost = numeric(r["Unit Cost"])
        unit = None if cost is None else abs(cost)
        freq = mapped(r["Cost Frequency (Unit Type)"], lists["frequency"])
        factor = None
        for prefix, value in FACTORS:
            if freq is not None and freq.lower().startswith(prefix):
                factor = value
                break
        else:
            units = numeric(r["Planned units per week"])
            factor = None if units is None else abs(units)
        one_off = freq is not None and freq.lower() == "one-off"
        if unit is None or unit == 0 or not (one_off or (factor is not None and factor != 0)):
            continue
        if one_off:
            cpw, total_cost = None, float(unit)
        else:
            start, end = r["_start"], r["_end"]
            a = max(start, qs)
            b = pe if end is None or end > pe else end
            days = (b - a).days
            weeks = (Decimal(days + 1) / Decimal(7)).quantize(Decimal("0.000001"), ROUND_DOWN)
            assert factor is not None  # a cost per week has one (checked above)
            cpw = float(unit) * float(factor)
            total_cost = cpw * float(weeks)
        st = mapped(r["Service Type"], lists["service"])
        blocks[key(st) if st else "null"].append((cpw, total_cost))

    def block(items: list[tuple[float | None, float]]) -> dict[str, Any]:
        weekly = [c for c, _ in items if c is not None]
        return {
            "services": len(items),
            "services_with_weekly_cost": len(weekly),
            "weekly_cost_total": round(float(sum(weekly)), 2),
            "weekly_cost_mean": round(sum(weekly) / len(weekly), 2) if weekly else None,
            "period_cost_total": round(float(sum(t for _, t in items)), 2),
        }

    costs = {key(v): block(blocks[key(v)]) for v in lists["service"]}
    costs["null"] = block(blocks["null"])
    return {
        "contract_version": "1",
        "import_date": iso(import_date),
        "rows_in": len(rows),
        "stated_period": {"start": iso(s_start), "end": iso(s_end)},
        "stated_period_count": len(pairs),
        "stated_period_length_months": length(s_start, s_end),
        "derived_period": {"start": iso(d_start), "end": iso(d_end)},
        "derived_period_length_months": length(d_start, d_end),
        "derived_period_inputs": {
            "events_ending_before_import_month": total,
            "event_types_in_file": most,
            "months_with_events": len(months),
            "months_meeting_thresholds": len(qualifying),
            "under_100_events": total < 100,
        },
        "reporting_period": {"start": iso(ps), "end": iso(pe)},
        "selected_for_period": selected,
        "events_in_period": in_period,
        "events_dropped_by_period_filter": {b: counts[b] - in_period[b] for b in BUCKETS},
        "person_id": {
            "rows_from_nhs_number": from_nhs,
            "rows_from_la_identifier": from_la,
            "rows_dropped_no_person_id": none,
            "people_from_nhs_number": len(nhs_people),
            "people_from_la_identifier": len(la_people),
            "people": len(everyone),
        },
        "unique_events": u_counts,
        "rows_merged_by_dedup": {b: into_counts[b] - u_counts[b] for b in BUCKETS},
        "services_by_service_type": by_type,
        "services_by_service_type_grouped": grouped,
        "people_in_long_term_support_at_period_end": {
            "total": len({r["_person"] for r in covering}),
            "by_setting": by_setting,
        },
        "requests_by_route_of_access": category("Request: Route of Access", "route", requests),
        "requests_by_outcome_grouped": outcome_groups,
        "requests_lts_flag": lts_flag(requests),
        "assessments_by_type": category("Assessment Type", "assessment", assessments),
        "assessments_lts_flag": lts_flag(assessments),
        "reviews_by_reason": category("Review Reason", "reason", reviews),
        "reviews_by_review_type": review_types,
        "reviews_lts_flag": lts_flag(reviews),
        "costs_quarter": {"start": iso(qs), "end": iso(pe)},
        "costs_by_service_type": costs,
        "costs_total": block([item for items in blocks.values() for item in items]),
    }
