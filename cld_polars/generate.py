"""Synthetic CLD Release 2 returns that meet the specification, for tests and benchmarks.

Why this exists: the validator needs large, realistic, *clean* returns to measure speed on and
to prove that a return which meets the specification gives zero errors. Real returns hold
personal data, so we make our own. Everything is vectorised (numpy draws, polars string
building): 1,000,000 rows take a couple of seconds and memory grows linearly with the row count.

How a return is built:

* People first. Each person has a client type (Service user, Unpaid carer, Unknown, or Unpaid
  carer known by association) and one set of person details (NHS Number, names, DOB, Gender,
  postcode...) repeated on all of their rows, so cross-row consistency holds by construction.
  Service users and unpaid carers have several events each (about 4 on average); people known
  by association have one row with person and unpaid-carer details and no event details.
* Then events: Requests ~30%, Assessments ~25%, Services ~30%, Reviews ~15%. Requests,
  Assessments and Reviews end inside the reporting period (their end dates are spread evenly
  over its 12 months); Services overlap it, about a third are open (no end date, outcome
  "Continuation of support or services"). Some people's first two events are a Request and a
  Short term assessment that start the same day and share one Event Reference (guidance,
  Annex B).
* Dates of birth are drawn backwards from each person's earliest event so that everyone is 18
  or over at every event start and no older than ~110 at the period end. About 6% of service
  users have died: their Date of Death is on or after every date of theirs, and their open
  services end on it with outcome "NFA: Deceased".
* Identifiers are "P" + number (people) and "E" + number (events): never more than 7 digits
  in a row, so they cannot contain an 8-digit date of birth, and without letters that could
  spell a name or postcode.

Warnings that clean output can still give (everything else is zero errors, zero warnings):

* ``NHS Number`` blank: about 2% of people have none, because real returns have them.
* For tiny returns (a few hundred rows or fewer) the "period the events cover" warning: with
  so few events some months hold under 2% of them, or an event type is missing. Unavoidable.

Usage::

    from cld_polars.generate import generate_return, write_return
    frame = generate_return(10_000, seed=1)
    write_return("return.csv", 1_000_000)

    python -m cld_polars.generate OUT.csv --rows 1000000 --seed 0
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import polars as pl

from cld_polars.safety import write_atomic_with
from cld_polars.spec import Spec, load_spec

__all__ = ["generate_pair", "generate_return", "main", "next_quarter_return", "write_return"]

DEFAULT_PERIOD_END = datetime.date(2025, 9, 30)
_EPOCH = datetime.date(1970, 1, 1)
_QUARTER_ENDS = {(3, 31), (6, 30), (9, 30), (12, 31)}

# ---------------------------------------------------------------------------------------------
# Codes used internally (indices into these tuples, which are exact Release 2 values)
# ---------------------------------------------------------------------------------------------

CLIENT_TYPES = ("Service user", "Unpaid carer", "Unpaid carer known by association", "Unknown")
SU, UC, UCKBA, UNK = range(4)
EVENT_TYPES = ("Request", "Assessment", "Service", "Review")
REQ, ASM, SVC, REV = range(4)
ASSESSMENT_TYPES = ("Short term assessment", "Long term assessment", "Financial assessment")
SHORT, LONG, FIN = range(3)
CARER_PSR = "Social support: Support to unpaid carer"
PLANNED_REVIEW = "Planned review of long term care and support plan"
CONTINUATION = "Continuation of support or services"
DECEASED = "NFA: Deceased"

# Care settings of service users: they decide accommodation and the kind of services given.
COMMUNITY, RESIDENTIAL, NURSING, PRISON, CARER = range(5)

# Person-level client type mix (people, not rows): service users have more events than carers,
# so these give rows of ~85% service user, ~10% unpaid carer, ~2% unknown (+2.5% UCKBA rows).
_PERSON_CLIENT_TYPE = {SU: 0.80, UC: 0.142, UNK: 0.058}
_MEAN_EXTRA_EVENTS = {SU: 3.2, UC: 1.8, UNK: 0.3}  # events per person = 1 + Poisson(mean)
_UCKBA_SHARE = 0.025
_PAIR_SHARE = 0.12  # people whose first two events are a Request + Assessment sharing a reference
_DECEASED_SHARE = 0.06
_NO_NHS_SHARE = 0.02
_NO_DOB_CARER_SHARE = 0.04

# Event type mix by client type (rows). Request/Assessment pairs add ~2% to each of those two.
_EVENT_TYPE_BY_CLIENT = {
    SU: {REQ: 0.26, ASM: 0.22, SVC: 0.35, REV: 0.17},
    UC: {REQ: 0.33, ASM: 0.30, SVC: 0.22, REV: 0.15},
    UNK: {REQ: 0.85, ASM: 0.15},
}
_ASSESSMENT_TYPE_BY_CLIENT = {
    SU: {SHORT: 0.42, LONG: 0.33, FIN: 0.25},
    UC: {SHORT: 0.20, LONG: 0.80},
    UNK: {SHORT: 1.0},
}
_SETTING = {COMMUNITY: 0.806, RESIDENTIAL: 0.12, NURSING: 0.07, PRISON: 0.004}

Weights = Mapping[str, float]

GENDER: Weights = {"Female": 0.56, "Male": 0.43, "Other": 0.004, "Unknown": 0.006}
ETHNICITY: Weights = {
    "White: English, Welsh, Scottish, Northern Irish or British": 80.0,
    "White: Irish": 0.5,
    "White: Gypsy or Irish Traveller": 0.2,
    "White: Roma": 0.1,
    "White: Any other White background": 3.5,
    "Mixed or multiple ethnic groups: White and Black Caribbean": 0.4,
    "Mixed or multiple ethnic groups: White and Black African": 0.2,
    "Mixed or multiple ethnic groups: White and Asian": 0.3,
    "Mixed or multiple ethnic groups: Any other Mixed or multiple ethnic background": 0.3,
    "Asian or Asian British: Indian": 1.5,
    "Asian or Asian British: Pakistani": 0.8,
    "Asian or Asian British: Bangladeshi": 0.3,
    "Asian or Asian British: Chinese": 0.4,
    "Asian or Asian British: Any other Asian background": 0.6,
    "Black, Black British, Caribbean or African: Caribbean": 0.6,
    "Black, Black British, Caribbean or African: African": 1.0,
    "Black, Black British, Caribbean or African: Any other Black, Black British or Caribbean "
    "background": 0.3,
    "Other ethnic group: Arab": 0.2,
    "Other ethnic group: Any other ethnic group": 0.5,
    "No data: Refused": 1.0,
    "No data: Undeclared or not known": 6.0,
}
PSR_SERVICE_USER: Weights = {
    "Physical support: Personal care support": 48.0,
    "Physical support: Access and mobility only": 6.0,
    "Sensory support: Support for visual impairment": 1.5,
    "Sensory support: Support for hearing impairment": 1.0,
    "Sensory support: Support for dual impairment": 0.5,
    "Support with memory and cognition": 12.0,
    "Learning disability support": 12.0,
    "Mental health support": 11.0,
    "Social support: Substance misuse support": 0.8,
    "Social support: Asylum seeker support": 0.2,
    "Social support: Support for social isolation or other reason": 2.5,
    "Unknown": 4.5,
}
PSR_UNKNOWN_CLIENT: Weights = {
    "Unknown": 70.0,
    "Physical support: Personal care support": 15.0,
    "Mental health support": 8.0,
    "Support with memory and cognition": 7.0,
}
ACCOMMODATION_COMMUNITY: Weights = {
    "Owner occupier or shared ownership scheme": 38.0,
    "Tenant: local authority or other social housing provider": 18.0,
    "Tenant: private landlord": 7.0,
    "Settled mainstream housing with family or friends": 14.0,
    "Supported accommodation, supported lodgings or supported group home": 5.0,
    "Shared Lives scheme": 0.6,
    "Approved premises for offenders released from prison or under probation supervision": 0.1,
    "Sheltered housing, extra care housing or other sheltered housing": 5.0,
    "Mobile accommodation for Gypsy, Roma and Traveller communities": 0.1,
    "Refuge": 0.1,
    "Placed in temporary accommodation by the council (inc. homelessness resettlement)": 0.3,
    "Staying with family or friends as a short term guest": 0.4,
    "Acute hospital or long term healthcare residential facility": 1.0,
    "Other temporary accommodation": 0.4,
    "Unknown": 10.0,
}
ACCOMMODATION_NO_FIXED_ABODE: Weights = {
    "Rough sleeper or squatting": 50.0,
    "Night shelter, emergency hostel or direct access hostel": 40.0,
    "Unknown": 10.0,
}
ACCOMMODATION_SETTING = {
    RESIDENTIAL: "Registered care home",
    NURSING: "Registered nursing home",
    PRISON: "Prison, young offenders institution or detention centre",
}
EMPLOYMENT: Weights = {
    "Paid: Less than 16 hours a week": 6.0,
    "Paid: 16 or more hours a week": 4.0,
    "Paid: Hours per week unknown": 1.0,
    "Not in paid employment: Seeking work": 5.0,
    "Not in paid employment: Not actively seeking work or retired": 60.0,
    "Not in paid employment: Voluntary work only": 4.0,
    "Unknown": 20.0,
}
HAS_CARER_BY_CLIENT: dict[int, Weights] = {
    SU: {"Yes": 0.38, "No": 0.42, "Unknown": 0.20},
    UC: {"Yes": 0.08, "No": 0.62, "Unknown": 0.30},
    UCKBA: {"Yes": 0.05, "No": 0.55, "Unknown": 0.40},
    UNK: {"Yes": 0.10, "No": 0.20, "Unknown": 0.70},
}
# Voluntary person fields: "" means blank.
ASD: Weights = {"Yes": 0.04, "No": 0.60, "Unknown": 0.20, "": 0.16}
VISUAL: Weights = {
    "Blind or severely sight impaired": 0.02,
    "Partial sight or sight impaired": 0.03,
    "No visual impairment": 0.55,
    "Visual impairment: severity unknown": 0.02,
    "Unknown": 0.20,
    "": 0.18,
}
HEARING: Weights = {
    "Deaf with speech": 0.005,
    "Deaf without speech": 0.005,
    "Hard of hearing": 0.06,
    "No hearing impairment": 0.53,
    "Hearing impairment: severity unknown": 0.02,
    "Unknown": 0.20,
    "": 0.18,
}
DEMENTIA: Weights = {"Yes": 0.12, "No": 0.50, "Unknown": 0.20, "": 0.18}
FUNDING_BY_CLIENT: dict[int, Weights] = {
    SU: {
        "Fully client funded": 0.10,
        "Joint client and social care funded": 0.35,
        "Fully social care funded": 0.37,
        "Unknown": 0.18,
    },
    UC: {"Fully social care funded": 0.25, "Unknown": 0.25, "": 0.50},
    UCKBA: {"": 1.0},
    UNK: {"Unknown": 0.60, "": 0.40},
}
ROUTE_BY_CLIENT: dict[int, Weights] = {
    SU: {
        "Community or other route": 55.0,
        "Discharge from hospital": 20.0,
        "Diversion from hospital services": 5.0,
        "Planned transition from children's services": 2.5,
        "Prison": 0.3,
        "Self-funder": 5.0,
        "Discharge from reablement": 10.0,
        "Transfer from other local authority": 2.2,
    },
    UC: {"Community or other route": 85.0, "Discharge from hospital": 10.0, "Self-funder": 5.0},
    UNK: {"Community or other route": 85.0, "Discharge from hospital": 15.0},
}
METHOD_BY_CLIENT: dict[int, Weights] = {
    SU: {"Service user only": 0.6, "Service user and unpaid carer": 0.4},
    UC: {"Unpaid carer only": 0.7, "Service user and unpaid carer": 0.3},
    UNK: {"Service user only": 0.8, "Service user and unpaid carer": 0.2},
}
ELIGIBLE_NEEDS: Weights = {
    "Eligible needs identified": 0.68,
    "Non eligible needs identified": 0.10,
    "No needs identified": 0.08,
    "": 0.14,
}
HOURS_CARING: Weights = {
    "1 to 9 hours a week": 15.0,
    "10 to 19 hours a week": 18.0,
    "20 to 34 hours a week": 20.0,
    "35 to 49 hours a week": 15.0,
    "50 or more hours a week": 32.0,
}
REVIEW_REASON_BY_CLIENT: dict[int, Weights] = {
    SU: {
        PLANNED_REVIEW: 60.0,
        "Unplanned: Hospital (planned and unplanned episodes)": 8.0,
        "Unplanned: Unpaid carer related": 3.0,
        "Unplanned: Safeguarding concern": 4.0,
        "Unplanned: Other reason": 9.0,
        "Unplanned: Provider failure": 1.5,
        "Unplanned: Change in commissioning arrangements": 1.5,
        "Review of short term support": 13.0,
    },
    # Guidance: the default review reason for unpaid carer reviews is "planned".
    UC: {PLANNED_REVIEW: 1.0},
}
REVIEW_OUTCOMES: Weights = {
    "Fully met": 0.45,
    "Partially met": 0.35,
    "Not met": 0.08,
    "Not applicable": 0.12,
}
REVIEW_OUTCOMES_OTHER: Weights = {
    "Not applicable": 0.40,
    "Fully met": 0.10,
    "Partially met": 0.05,
    "": 0.45,
}

# Event outcomes, each within the guidance's typical table for its event type.
# "NFA: Deceased" is never drawn: it is set only where the person has a Date of Death.
OUTCOME_REQUEST: Weights = {
    "Progress to reablement/ST-Max": 5.0,
    "Progress to assessment, review or reassessment": 36.0,
    "Progress to support planning or services": 8.0,
    "Continuation of support or services": 3.0,
    "Admitted to hospital": 1.0,
    "NFA: Responsibility moved to another local authority": 0.5,
    "NFA: Referral to NHS services or NHS funded social care": 3.0,
    "NFA: Self-funded client or under 12wk disregard": 2.0,
    "NFA: Referral to other service within the local authority": 7.0,
    "NFA: Information and advice or signposting": 24.0,
    "NFA: Support declined": 4.0,
    "NFA: No services offered for other reason": 3.5,
    "NFA: Other": 3.0,
}
OUTCOME_ASSESSMENT: Weights = {
    "Progress to reablement/ST-Max": 10.0,
    "Progress to assessment, review or reassessment": 10.0,
    "Progress to support planning or services": 35.0,
    "Continuation of support or services": 10.0,
    "Admitted to hospital": 1.0,
    "NFA: Responsibility moved to another local authority": 0.5,
    "NFA: Referral to NHS services or NHS funded social care": 2.0,
    "NFA: Self-funded client or under 12wk disregard": 3.0,
    "NFA: Referral to other service within the local authority": 3.0,
    "NFA: Information and advice or signposting": 10.0,
    "NFA: Support declined": 5.0,
    "NFA: Support ended as planned": 4.5,
    "NFA: No services offered for other reason": 4.0,
    "NFA: Other": 2.0,
}
OUTCOME_SERVICE_CLOSED: Weights = {
    "Continuation of support or services": 12.0,
    "Admitted to hospital": 8.0,
    "NFA: Responsibility moved to another local authority": 2.0,
    "NFA: Referral to NHS services or NHS funded social care": 5.0,
    "NFA: Self-funded client or under 12wk disregard": 4.0,
    "NFA: Support declined": 4.0,
    "NFA: Support ended as planned": 45.0,
    "NFA: Support ended for other reason": 15.0,
    "NFA: Other": 5.0,
}
OUTCOME_REVIEW: Weights = {
    "Progress to assessment, review or reassessment": 8.0,
    "Progress to support planning or services": 25.0,
    "Continuation of support or services": 55.0,
    "Admitted to hospital": 2.0,
    "NFA: Referral to NHS services or NHS funded social care": 1.0,
    "NFA: Support ended as planned": 5.0,
    "NFA: Support ended for other reason": 3.0,
    "NFA: Other": 1.0,
}
PAIR_REQUEST_OUTCOME = "Progress to assessment, review or reassessment"

# Event Description: voluntary free text, the guidance's own examples; "" means blank.
DESCRIPTION_REQUEST: Weights = {
    "Adult Contact: New case": 0.30,
    "Hospital contact or referral": 0.15,
    "Children's services referral to ASC": 0.02,
    "": 0.53,
}
DESCRIPTION_ASSESSMENT = {
    SHORT: {
        "Proportional assessment e.g. conversation 1/2": 0.3,
        "Occupational therapy assessment": 0.2,
        "": 0.5,
    },
    LONG: {"Care needs assessment": 0.5, "": 0.5},
    FIN: {"Financial assessment": 0.5, "": 0.5},
}
DESCRIPTION_REVIEW: Weights = {
    "Annual review": 0.35,
    "6 week review": 0.10,
    "Unscheduled review": 0.05,
    "Reablement review": 0.05,
    "": 0.45,
}

# Delivery mechanism weights: (Direct payment, CASSR managed personal budget,
# CASSR commissioned support, blank).
DELIVERY_MECHANISMS = (
    "Direct payment",
    "CASSR managed personal budget",
    "CASSR commissioned support",
)
_DM_COMMUNITY = (0.15, 0.55, 0.30, 0.0)
_DM_DIRECT_PAYMENT = (1.0, 0.0, 0.0, 0.0)
_DM_COMMISSIONED = (0.0, 0.0, 1.0, 0.0)
_DM_CARE_HOME = (0.0, 0.6, 0.0, 0.4)
_DM_SHORT = (0.0, 0.0, 0.5, 0.5)
_DM_SHORT_CARE_HOME = (0.0, 0.3, 0.3, 0.4)
_DM_PRISON = (0.0, 0.0, 0.7, 0.3)  # never a direct payment in prison
_DM_CARER = (0.0, 0.2, 0.6, 0.2)


class _Combo(NamedTuple):
    """A service type + component that make sense together, and how such services behave."""

    setting: int
    service_type: str
    component: str
    weight: float
    term: str  # "long", "short", "low" (ongoing low level) or "carer": start/end pattern
    delivery: tuple[float, float, float, float]
    description: str
    cqc: bool  # delivered by a CQC-registered location


_LT_COMMUNITY = "Long term support: Community"
_ST_OTHER = "Short term support: Other short term"
_ST_LOW = "Short term support: Ongoing low level"
_ST_MAX = "Short term support: ST-Max"
_CARER_DIRECT = "Unpaid carer support: Direct to unpaid carer"
_CARER_VIA = "Unpaid carer support: Support involving the person cared-for"

COMBOS: tuple[_Combo, ...] = (
    _Combo(COMMUNITY, _ST_MAX, "Reablement", 12, "short", _DM_SHORT, "Reablement", True),
    _Combo(COMMUNITY, _ST_LOW, "Equipment", 8, "low", _DM_SHORT, "Equipment: Telecare", False),
    _Combo(COMMUNITY, _ST_LOW, "Transport", 2, "low", _DM_SHORT, "", False),
    _Combo(COMMUNITY, _ST_LOW, "Meals", 2, "low", _DM_SHORT, "", False),
    _Combo(COMMUNITY, _ST_LOW, "Professional support: Other", 2, "low", _DM_SHORT, "", False),
    _Combo(
        COMMUNITY,
        _ST_OTHER,
        "Short term residential care",
        4,
        "short",
        _DM_SHORT_CARE_HOME,
        "Residential care: Respite",
        True,
    ),
    _Combo(COMMUNITY, _ST_OTHER, "Other short term support", 3, "short", _DM_SHORT, "", False),
    _Combo(COMMUNITY, _ST_OTHER, "Emergency support", 1, "short", _DM_SHORT, "", False),
    _Combo(
        COMMUNITY,
        _LT_COMMUNITY,
        "Home support or domiciliary care",
        30,
        "long",
        _DM_COMMUNITY,
        "Home support: Domestic",
        True,
    ),
    _Combo(COMMUNITY, _LT_COMMUNITY, "Day support", 7, "long", _DM_COMMUNITY, "Day centre", True),
    _Combo(
        COMMUNITY,
        _LT_COMMUNITY,
        "Direct payment",
        8,
        "long",
        _DM_DIRECT_PAYMENT,
        "Direct payment",
        False,
    ),
    _Combo(
        COMMUNITY,
        _LT_COMMUNITY,
        "Community supported living, excluding extra care housing",
        5,
        "long",
        _DM_COMMUNITY,
        "Supported living",
        True,
    ),
    _Combo(
        COMMUNITY,
        _LT_COMMUNITY,
        "Extra care housing",
        2,
        "long",
        _DM_COMMUNITY,
        "Extra care housing",
        True,
    ),
    _Combo(
        COMMUNITY, _LT_COMMUNITY, "Shared Lives", 1, "long", _DM_COMMUNITY, "Shared Lives", True
    ),
    _Combo(COMMUNITY, _LT_COMMUNITY, "Meals", 2, "long", _DM_COMMUNITY, "Meals at home", False),
    _Combo(COMMUNITY, _LT_COMMUNITY, "Transport", 2, "long", _DM_COMMUNITY, "", False),
    _Combo(
        COMMUNITY,
        _LT_COMMUNITY,
        "Professional support: Social worker",
        3,
        "long",
        _DM_COMMISSIONED,
        "",
        False,
    ),
    _Combo(
        COMMUNITY,
        _LT_COMMUNITY,
        "Learning, education or employment support",
        2,
        "long",
        _DM_COMMUNITY,
        "",
        False,
    ),
    _Combo(COMMUNITY, _LT_COMMUNITY, "End of life care", 1, "long", _DM_COMMUNITY, "", True),
    _Combo(
        COMMUNITY, _LT_COMMUNITY, "Other long term support", 2, "long", _DM_COMMUNITY, "", False
    ),
    _Combo(
        RESIDENTIAL,
        "Long term support: Residential care",
        "Long term residential care",
        80,
        "long",
        _DM_CARE_HOME,
        "Residential care",
        True,
    ),
    _Combo(
        RESIDENTIAL,
        _ST_OTHER,
        "Short term residential care",
        12,
        "short",
        _DM_SHORT_CARE_HOME,
        "Residential care: Short stay",
        True,
    ),
    _Combo(RESIDENTIAL, _ST_MAX, "Reablement", 3, "short", _DM_SHORT, "", True),
    _Combo(RESIDENTIAL, _ST_LOW, "Equipment", 5, "low", _DM_SHORT, "", False),
    _Combo(
        NURSING,
        "Long term support: Nursing care",
        "Long term nursing care",
        80,
        "long",
        _DM_CARE_HOME,
        "Nursing care",
        True,
    ),
    _Combo(
        NURSING,
        _ST_OTHER,
        "Short term nursing care",
        12,
        "short",
        _DM_SHORT_CARE_HOME,
        "Nursing care: Short stay",
        True,
    ),
    _Combo(
        NURSING,
        _ST_LOW,
        "Equipment",
        8,
        "low",
        _DM_SHORT,
        "Equipment: Bariatric Bed with Integrated Hoist",
        False,
    ),
    _Combo(
        PRISON,
        "Long term support: Prison",
        "Professional support: Social worker",
        50,
        "long",
        _DM_PRISON,
        "",
        False,
    ),
    _Combo(
        PRISON,
        "Long term support: Prison",
        "Other long term support",
        30,
        "long",
        _DM_PRISON,
        "",
        False,
    ),
    _Combo(PRISON, "Long term support: Prison", "Equipment", 20, "long", _DM_PRISON, "", False),
    _Combo(
        CARER, _CARER_DIRECT, "Unpaid carer universal services", 20, "carer", _DM_CARER, "", False
    ),
    _Combo(
        CARER,
        _CARER_DIRECT,
        "Other unpaid carer support",
        25,
        "carer",
        _DM_CARER,
        "Carer support",
        False,
    ),
    _Combo(
        CARER,
        _CARER_DIRECT,
        "Direct payment",
        20,
        "carer",
        _DM_DIRECT_PAYMENT,
        "Carer direct payment",
        False,
    ),
    _Combo(CARER, _CARER_VIA, "Unpaid carer respite", 25, "carer", _DM_CARER, "Respite", True),
    _Combo(
        CARER,
        _CARER_VIA,
        "Unpaid carer sitting service",
        10,
        "carer",
        _DM_CARER,
        "Sitting service",
        True,
    ),
)
_COMBO_SERVICE_TYPES = tuple(c.service_type for c in COMBOS)
_COMBO_COMPONENTS = tuple(c.component for c in COMBOS)

# Start/end pattern of services by term: (share starting before the period, most days before,
# share open at the period end, most days long when closed (0: any time up to the period end)).
_TERMS = {
    "long": (0.55, 2500, 0.45, 0),
    "short": (0.10, 60, 0.12, 56),
    "low": (0.05, 30, 0.05, 14),
    "carer": (0.25, 400, 0.30, 0),
}

# Cost Frequency (Unit Type) by Service Component.
FREQUENCY_BY_COMPONENT: dict[str, Weights] = {
    "Long term residential care": {"Weekly": 85.0, "4-weekly": 10.0, "Daily": 5.0},
    "Long term nursing care": {"Weekly": 85.0, "4-weekly": 10.0, "Daily": 5.0},
    "Short term residential care": {"Weekly": 50.0, "Daily": 50.0},
    "Short term nursing care": {"Weekly": 50.0, "Daily": 50.0},
    "Home support or domiciliary care": {"Hourly": 85.0, "Weekly": 15.0},
    "Day support": {"Per session": 60.0, "Daily": 30.0, "Weekly": 10.0},
    "Direct payment": {"Weekly": 50.0, "4-weekly": 30.0, "Monthly": 15.0, "Hourly": 5.0},
    "Community supported living, excluding extra care housing": {"Weekly": 60.0, "Hourly": 40.0},
    "Extra care housing": {"Weekly": 80.0, "Hourly": 20.0},
    "Shared Lives": {"Weekly": 50.0, "Daily": 50.0},
    "Meals": {"Per session": 100.0},
    "Transport": {"Per session": 70.0, "One-off": 30.0},
    "Equipment": {"One-off": 100.0},
    "Professional support: Social worker": {"Hourly": 70.0, "One-off": 30.0},
    "Professional support: Other": {"Hourly": 70.0, "One-off": 30.0},
    "Learning, education or employment support": {"Per session": 60.0, "Hourly": 40.0},
    "End of life care": {"Hourly": 50.0, "Weekly": 50.0},
    "Reablement": {"Hourly": 60.0, "Weekly": 40.0},
    "Other short term support": {"Weekly": 50.0, "One-off": 25.0, "Hourly": 25.0},
    "Emergency support": {"Weekly": 50.0, "One-off": 25.0, "Hourly": 25.0},
    "Other long term support": {
        "Weekly": 50.0,
        "Fortnightly": 10.0,
        "Quarterly": 10.0,
        "One-off": 30.0,
    },
    "Unpaid carer respite": {"Daily": 60.0, "Weekly": 40.0},
    "Unpaid carer sitting service": {"Hourly": 100.0},
    "Unpaid carer universal services": {"One-off": 60.0, "Annually": 40.0},
    "Other unpaid carer support": {"One-off": 50.0, "Annually": 30.0, "Monthly": 20.0},
}
# Unit cost range in pounds by frequency.
COST_RANGE = {
    "Per session": (6.0, 75.0),
    "Hourly": (17.0, 32.0),
    "Daily": (60.0, 220.0),
    "Weekly": (80.0, 900.0),
    "Fortnightly": (150.0, 1500.0),
    "4-weekly": (300.0, 6000.0),
    "Monthly": (300.0, 6000.0),
    "Quarterly": (300.0, 5000.0),
    "Annually": (100.0, 3000.0),
    "One-off": (20.0, 2500.0),
}
CARE_HOME_WEEKLY = (650.0, 1800.0)
_CARE_HOME_COMPONENTS = (
    "Long term residential care",
    "Long term nursing care",
    "Short term residential care",
    "Short term nursing care",
)
_COSTED_TYPES = ("Long term support: Nursing care", "Long term support: Residential care")
_UNIT_FREQUENCIES = ("Hourly", "Daily", "Per session")

# Names (three letters or more, so that no identifier can contain one).
FEMALE_NAMES = (
    "Margaret",
    "Patricia",
    "Susan",
    "Jean",
    "Christine",
    "Barbara",
    "Linda",
    "Elizabeth",
    "Joan",
    "Mary",
    "Sarah",
    "Emma",
    "Janet",
    "Pauline",
    "Sandra",
    "Dorothy",
    "Irene",
    "Ann",
    "Valerie",
    "Sheila",
    "Gillian",
    "Karen",
    "Helen",
    "Amy",
    "Aisha",
    "Priya",
    "Olivia",
    "Grace",
    "Eileen",
    "Doreen",
    "Brenda",
    "Kathleen",
)
MALE_NAMES = (
    "John",
    "David",
    "Michael",
    "Peter",
    "Robert",
    "William",
    "James",
    "Brian",
    "Alan",
    "Keith",
    "Thomas",
    "George",
    "Kenneth",
    "Richard",
    "Paul",
    "Mark",
    "Stephen",
    "Anthony",
    "Derek",
    "Colin",
    "Trevor",
    "Raymond",
    "Daniel",
    "Mohammed",
    "Arjun",
    "Oliver",
    "Harry",
    "Ian",
    "Roy",
    "Gordon",
    "Dennis",
    "Leslie",
)
NEUTRAL_NAMES = ("Alex", "Sam", "Jordan", "Charlie", "Robin", "Jamie", "Morgan", "Taylor")
LAST_NAMES = (
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Robinson",
    "Wright",
    "Thompson",
    "Evans",
    "Walker",
    "White",
    "Roberts",
    "Green",
    "Hall",
    "Wood",
    "Jackson",
    "Clarke",
    "Patel",
    "Khan",
    "Lewis",
    "Harrison",
    "Hughes",
    "Edwards",
    "Turner",
    "Martin",
    "Cooper",
    "Hill",
    "Ward",
    "Morris",
    "Moore",
    "Clark",
    "Baker",
    "Harris",
    "O'Brien",
    "Smith-Jones",
    "Ashworth",
    "Fenwick",
    "Dunmore",
    "Skegby",
    "Holbeach",
    "Nowak",
    "Kowalski",
    "Begum",
    "Ahmed",
    "Chen",
    "Okafor",
    "Murphy",
)
# Postcode outward codes of the Lincolnshire area (two-letter areas only).
OUTWARD_CODES = tuple(
    [f"LN{i}" for i in range(1, 14)]
    + [f"PE{i}" for i in (10, 11, 12, 20, 21, 22, 23, 24, 25)]
    + [f"NG{i}" for i in (31, 32, 33, 34)]
    + [f"DN{i}" for i in (21, 32, 33, 34, 35, 36, 37, 40)]
)
_INWARD_LETTERS = tuple("ABDEFGHJLNPQRSTUWXYZ")
POSTCODE_KIND = {
    "full": 0.945,
    "outward": 0.015,
    "ZZ99 3VZ": 0.01,
    "ZZ99 3CZ": 0.01,
    "Unknown": 0.02,
}
_GP_LETTERS = tuple("ABCDEFGHJKLMNPY")


# ---------------------------------------------------------------------------------------------
# Small vectorised helpers
# ---------------------------------------------------------------------------------------------


def _days(day: datetime.date) -> int:
    """Days since 1970-01-01: dates are int32 arrays until the very end (cheap arithmetic)."""
    return (day - _EPOCH).days


def _probabilities(weights: Sequence[float]) -> np.ndarray:
    p = np.asarray(weights, dtype=np.float64)
    return p / p.sum()


def _draw(rng: np.random.Generator, n: int, weights: Sequence[float]) -> np.ndarray:
    """n indices drawn with the given (unnormalised) weights."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    return rng.choice(len(weights), size=n, p=_probabilities(weights))


def _draw_values(rng: np.random.Generator, n: int, table: Weights) -> np.ndarray:
    return _draw(rng, n, list(table.values()))


def _draw_by_group(
    rng: np.random.Generator, group: np.ndarray, tables: Mapping[int, Mapping[int, float]]
) -> np.ndarray:
    """Per row, a key of ``tables[group]`` drawn with its weights; -1 for groups not listed.

    One vectorised draw per group (a loop over a handful of groups, never over rows).
    """
    out = np.full(group.shape[0], -1, dtype=np.int8)
    for g, table in tables.items():
        where = np.flatnonzero(group == g)
        keys = np.fromiter(table.keys(), dtype=np.int8)
        out[where] = keys[_draw(rng, where.size, list(table.values()))]
    return out


def _pick(values: Sequence[str], idx: np.ndarray) -> pl.Series:
    """Strings by index; -1 (and "" values) give null, i.e. a blank cell."""
    table = pl.Series([v if v else None for v in values] + [None], dtype=pl.String)
    idx = np.where(idx < 0, len(values), idx)
    return table.gather(idx)


def _pick_str_table(
    rng: np.random.Generator, n: int, table: Weights, blank: np.ndarray | None = None
) -> pl.Series:
    idx = _draw_values(rng, n, table)
    if blank is not None:
        idx[blank] = -1
    return _pick(tuple(table), idx)


class _Labels:
    """A column under construction: per row an index into ``values`` (-1 blank)."""

    def __init__(self, n: int) -> None:
        self.values: list[str] = []
        self.index: dict[str, int] = {}
        self.idx = np.full(n, -1, dtype=np.int16)

    def code(self, value: str) -> int:
        if value not in self.index:
            self.index[value] = len(self.values)
            self.values.append(value)
        return self.index[value]

    def assign(self, rows: np.ndarray, table: Weights, rng: np.random.Generator) -> None:
        """Fill ``rows`` with values drawn from ``table`` ("" means blank)."""
        codes = np.array([self.code(v) if v else -1 for v in table], dtype=np.int16)
        self.idx[rows] = codes[_draw_values(rng, rows.size, table)]

    def set(self, rows: np.ndarray, value: str) -> None:
        self.idx[rows] = self.code(value) if value else -1

    def series(self) -> pl.Series:
        return _pick(self.values, self.idx)


def _gather(values: pl.Series, idx: np.ndarray) -> pl.Series:
    """``values[idx]``, null where ``idx < 0``.

    Columns are built from a small table (one entry per person, per distinct day, per costed
    service...) and one gather to rows: cheaper than formatting every row, and blanks cost
    nothing extra.
    """
    table = pl.concat([values, pl.Series([None], dtype=pl.String)], rechunk=True)
    return table.gather(np.where(idx < 0, values.len(), idx))


def _per_row(
    values: pl.Series, row_person: np.ndarray, blank: np.ndarray | None = None
) -> pl.Series:
    """A person-level column spread to that person's rows (null where ``blank[person]``)."""
    if blank is None:
        return values.gather(row_person)
    return _gather(values, np.where(blank[row_person], -1, row_person))


def _subset_index(mask: np.ndarray) -> np.ndarray:
    """For each row, its position among the rows where ``mask`` holds; -1 elsewhere."""
    return np.where(mask, np.cumsum(mask) - 1, -1)


def _int_str(x: np.ndarray) -> pl.Series:
    return pl.Series(x.astype(np.int64)).cast(pl.String)


def _date_str(days: np.ndarray, blank: np.ndarray | None = None) -> pl.Series:
    """dd/mm/yyyy strings from day numbers (null where ``blank``).

    Formats each distinct day once (a few thousand) and gathers: dates span decades at most.
    """
    keep = np.ones(days.shape[0], dtype=bool) if blank is None else ~blank
    if not keep.any():
        return pl.repeat(None, days.shape[0], dtype=pl.String, eager=True)
    lo, hi = int(days[keep].min()), int(days[keep].max())
    table = pl.Series(np.arange(lo, hi + 1, dtype=np.int32)).cast(pl.Date).dt.strftime("%d/%m/%Y")
    return _gather(table, np.where(keep, days - lo, -1))


def _decimal_str(hundredths: np.ndarray, blank: np.ndarray) -> pl.Series:
    """Non-negative numbers written plainly: "652", "18.5", "18.25" (at most 2 decimals)."""
    h = hundredths[~blank].astype(np.int64)
    frame = pl.DataFrame({"whole": h // 100, "frac": h % 100})
    whole = pl.col("whole").cast(pl.String)
    frac = pl.col("frac")
    text = frame.select(
        pl.when(frac == 0)
        .then(whole)
        .when(frac % 10 == 0)
        .then(pl.concat_str([whole, pl.lit("."), (frac // 10).cast(pl.String)]))
        .otherwise(pl.concat_str([whole, pl.lit("."), frac.cast(pl.String).str.zfill(2)]))
        .alias("x")
    ).to_series()
    return _gather(text, _subset_index(~blank))


def _identifiers(prefix: str, numbers: np.ndarray) -> pl.Series:
    """``prefix`` + number, never more than 7 digits in a row.

    "P0001234" below ten million; above, "P12X345678" (a letter breaks the digits). So an
    identifier cannot hold an 8-digit date of birth (ddmmyyyy or yyyymmdd), and its only
    letters (P, E, X) cannot spell a name or a postcode of this generator.
    """
    s = pl.Series(numbers.astype(np.int64))
    frame = pl.DataFrame({"n": s})
    n = pl.col("n")
    return frame.select(
        pl.when(n < 10_000_000)
        .then(pl.concat_str([pl.lit(prefix), n.cast(pl.String).str.zfill(7)]))
        .otherwise(
            pl.concat_str(
                [
                    pl.lit(prefix),
                    (n // 1_000_000).cast(pl.String),
                    pl.lit("X"),
                    (n % 1_000_000).cast(pl.String).str.zfill(6),
                ]
            )
        )
        .alias("id")
    ).to_series()


def nhs_check_digit(body: np.ndarray) -> np.ndarray:
    """Modulus 11 check digit of 9-digit NHS Number bodies (10 means the body is invalid)."""
    total = np.zeros(body.shape[0], dtype=np.int64)
    rest = body.astype(np.int64)
    for weight in range(2, 11):  # last digit has weight 2, first weight 10
        total += (rest % 10) * weight
        rest //= 10
    check = 11 - total % 11
    return np.where(check == 11, 0, check)


def _nhs_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    """n distinct valid NHS Numbers (int64), in random order.

    Distinct by construction: bodies k -> (a*k + b) mod M is a bijection on [0, M) when
    gcd(a, M) = 1, so no sort or de-duplication is needed. Bodies whose check digit would be 10
    are dropped (about 1 in 11), so we take a few more k than needed.
    """
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    span = 500_000_000  # bodies 400000000..899999999 (first digits 4-8, as issued numbers)
    a = 387_420_489  # 3**18: coprime to 2 and 5, hence to span
    b = int(rng.integers(0, span))
    need = n
    k_count = int(n * 1.15) + 32
    while True:
        k = np.arange(k_count, dtype=np.int64)
        body = (a * k + b) % span + 400_000_000
        check = nhs_check_digit(body)
        ok = check != 10
        if int(ok.sum()) >= need:
            break
        if k_count >= span:  # cannot happen below ~400 million people
            raise ValueError(f"cannot make {n} distinct NHS numbers")
        k_count = min(k_count * 2, span)
    numbers = body[ok][:need] * 10 + check[ok][:need]
    return numbers[rng.permutation(need)]


def _period_start(period_end: datetime.date) -> datetime.date:
    """The day after the same date one year earlier (30/09/2025 -> 01/10/2024)."""
    year_before = period_end.replace(year=period_end.year - 1)
    return year_before + datetime.timedelta(days=1)


def _check_arguments(spec: Spec, la_code: str, period_end: datetime.date, n_rows: int) -> None:
    if n_rows < 0:
        raise ValueError(f"n_rows must be >= 0, not {n_rows}")
    council = spec.councils.get(str(la_code))
    if council is None or council.status != "current":
        raise ValueError(
            f"LA Code {la_code!r} is not a current council code (schemas/councils.csv)"
        )
    if (period_end.month, period_end.day) not in _QUARTER_ENDS:
        raise ValueError(
            f"period_end {period_end:%d/%m/%Y} is not a quarter end (30/06, 30/09, 31/12, 31/03)"
        )


def _check_tables(spec: Spec) -> None:
    """Every value this module writes must be a Release 2 value of its field.

    Cheap (a few hundred set look-ups) and run on every call, so that a change to
    ``schemas/`` that removes a value we use fails loudly instead of generating bad data.
    """
    by_field: dict[str, list[Iterable[str]]] = {
        "Gender": [GENDER],
        "Ethnicity": [ETHNICITY],
        "Client Type": [CLIENT_TYPES],
        "Primary Support Reason": [PSR_SERVICE_USER, PSR_UNKNOWN_CLIENT, [CARER_PSR]],
        "Accommodation Status": [
            ACCOMMODATION_COMMUNITY,
            ACCOMMODATION_NO_FIXED_ABODE,
            ACCOMMODATION_SETTING.values(),
        ],
        "Employment Status": [EMPLOYMENT],
        "Has Unpaid Carer": list(HAS_CARER_BY_CLIENT.values()),
        "Autism Spectrum Disorder (ASD)": [ASD],
        "Visual Impairment": [VISUAL],
        "Hearing Impairment": [HEARING],
        "Dementia": [DEMENTIA],
        "Client Funding Status": list(FUNDING_BY_CLIENT.values()),
        "Event Type": [EVENT_TYPES],
        "Event Outcome": [
            OUTCOME_REQUEST,
            OUTCOME_ASSESSMENT,
            OUTCOME_SERVICE_CLOSED,
            OUTCOME_REVIEW,
            [CONTINUATION, DECEASED, PAIR_REQUEST_OUTCOME],
        ],
        "Request: Route of Access": list(ROUTE_BY_CLIENT.values()),
        "Assessment Type": [ASSESSMENT_TYPES],
        "Eligible Needs Identified": [ELIGIBLE_NEEDS],
        "Method of Assessment": list(METHOD_BY_CLIENT.values()),
        "Method of Review": list(METHOD_BY_CLIENT.values()),
        "Total Hrs Caring per week": [HOURS_CARING],
        "Service Type": [_COMBO_SERVICE_TYPES],
        "Service Component": [_COMBO_COMPONENTS, FREQUENCY_BY_COMPONENT],
        "Delivery Mechanism": [DELIVERY_MECHANISMS],
        "Review Reason": list(REVIEW_REASON_BY_CLIENT.values()),
        "Review Outcomes Achieved": [REVIEW_OUTCOMES, REVIEW_OUTCOMES_OTHER],
        "Cost Frequency (Unit Type)": [COST_RANGE, *FREQUENCY_BY_COMPONENT.values()],
    }
    for name, tables in by_field.items():
        allowed = set(spec.values(name))
        for table in tables:
            bad = {v for v in table if v and v not in allowed}
            if bad:
                raise AssertionError(f"generate.py: {sorted(bad)} not Release 2 {name} values")
    typical = spec.typical_outcomes
    for event_type, table in (
        ("Request", OUTCOME_REQUEST),
        ("Assessment", OUTCOME_ASSESSMENT),
        ("Service", OUTCOME_SERVICE_CLOSED),
        ("Review", OUTCOME_REVIEW),
    ):
        bad = {v for v in table if event_type not in typical.get(v, ())}
        if bad:
            raise AssertionError(f"generate.py: {sorted(bad)} not typical for {event_type}")
    for value, event_type in (
        (CONTINUATION, "Service"),
        (DECEASED, "Service"),
        (PAIR_REQUEST_OUTCOME, "Request"),
    ):
        if event_type not in typical.get(value, ()):
            raise AssertionError(f"generate.py: {value!r} not typical for {event_type}")


# ---------------------------------------------------------------------------------------------
# The generator
# ---------------------------------------------------------------------------------------------


class _Rows(NamedTuple):
    """Who each row belongs to. People with events come first, then UCKBA people (one row)."""

    n: int
    person_ct: np.ndarray  # client type per person (int8)
    sizes: np.ndarray  # rows per person
    row_person: np.ndarray  # person index per row (int32)
    ct: np.ndarray  # client type per row (int8)
    n_event_people: int
    n_event_rows: int
    event_row: np.ndarray  # bool per row: not a UCKBA row


def _people(rng: np.random.Generator, n_rows: int) -> _Rows:
    """Client type per person and number of rows per person, summing exactly to n_rows."""
    n_uckba = round(n_rows * _UCKBA_SHARE) if n_rows >= 40 else 0
    n_event_rows = n_rows - n_uckba
    # Everyone has >= 1 row, so n_event_rows candidates always cover n_event_rows rows.
    candidates = n_event_rows
    keys = np.fromiter(_PERSON_CLIENT_TYPE.keys(), dtype=np.int8)
    ctype = keys[_draw(rng, candidates, list(_PERSON_CLIENT_TYPE.values()))]
    means = np.zeros(4)
    for k, v in _MEAN_EXTRA_EVENTS.items():
        means[k] = v
    sizes = np.minimum(1 + rng.poisson(means[ctype]), 20).astype(np.int64)
    if candidates:
        total = np.cumsum(sizes)
        n_people = int(np.searchsorted(total, n_event_rows)) + 1
        ctype, sizes = ctype[:n_people], sizes[:n_people].copy()
        sizes[-1] -= int(total[n_people - 1]) - n_event_rows
    n_event_people = int(ctype.shape[0])
    person_ct = np.concatenate([ctype, np.full(n_uckba, UCKBA, dtype=np.int8)])
    sizes = np.concatenate([sizes, np.ones(n_uckba, dtype=np.int64)])
    row_person = np.repeat(np.arange(person_ct.shape[0], dtype=np.int32), sizes)
    return _Rows(
        n=n_rows,
        person_ct=person_ct,
        sizes=sizes,
        row_person=row_person,
        ct=person_ct[row_person],
        n_event_people=n_event_people,
        n_event_rows=n_event_rows,
        event_row=np.arange(n_rows) < n_event_rows,
    )


class _Events(NamedTuple):
    etype: np.ndarray  # int8, -1 on UCKBA rows
    asm_type: np.ndarray  # int8, -1 unless an assessment
    combo: np.ndarray  # int8 index into COMBOS, -1 unless a service
    pair_req: np.ndarray  # bool: the Request of a Request + Assessment pair
    pair_asm: np.ndarray  # bool: the Assessment of the pair
    start: np.ndarray  # int32 day numbers
    end: np.ndarray  # int32 day numbers (meaningless where open or not an event)
    open_svc: np.ndarray  # bool: service still open at the period end


def _events(
    rng: np.random.Generator, rows: _Rows, setting: np.ndarray, p_start: int, p_end: int
) -> _Events:
    """Event types, service types and dates, all inside the rules for the reporting period."""
    n, ct, row_person = rows.n, rows.ct, rows.row_person
    etype = _draw_by_group(rng, ct, _EVENT_TYPE_BY_CLIENT)
    asm_type = np.full(n, -1, dtype=np.int8)
    is_asm = etype == ASM
    asm_type[is_asm] = _draw_by_group(rng, ct[is_asm], _ASSESSMENT_TYPE_BY_CLIENT)

    # Request + Short term assessment on the same day with one shared reference (Annex B):
    # some people's first two rows.
    first_row = np.cumsum(rows.sizes) - rows.sizes
    pos = np.arange(n) - first_row[row_person]
    pair_person = (
        (rows.sizes >= 2)
        & ((rows.person_ct == SU) | (rows.person_ct == UC))
        & (rng.random(rows.person_ct.shape[0]) < _PAIR_SHARE)
    )
    pair_req = pair_person[row_person] & (pos == 0)
    pair_asm = pair_person[row_person] & (pos == 1)
    del pos
    etype[pair_req] = REQ
    etype[pair_asm] = ASM
    asm_type[pair_req] = -1
    asm_type[pair_asm] = SHORT

    # Completed events (Request, Assessment, Review) end inside the period, evenly over its
    # months, and start a little earlier (possibly before the period: allowed).
    start = np.zeros(n, dtype=np.int32)
    end = np.zeros(n, dtype=np.int32)
    completed = np.flatnonzero((etype == REQ) | (etype == ASM) | (etype == REV))
    end[completed] = rng.integers(p_start, p_end + 1, size=completed.size)
    # duration in days by kind: (low, high exclusive, share lasting zero days)
    durations = {
        (REQ, -1): (1, 11, 0.65),
        (ASM, SHORT): (0, 22, 0.3),
        (ASM, LONG): (5, 91, 0.0),
        (ASM, FIN): (1, 46, 0.0),
        (REV, -1): (0, 29, 0.0),
    }
    for (e_type, a_type), (low, high, zero_share) in durations.items():
        where = np.flatnonzero((etype == e_type) & (asm_type == a_type))
        k = where.size
        days = np.where(rng.random(k) < zero_share, 0, rng.integers(low, high, size=k))
        start[where] = end[where] - days
    pair_day = rng.integers(p_start, p_end + 1, size=int(pair_req.sum()))
    start[pair_req] = pair_day
    end[pair_req] = pair_day
    start[pair_asm] = pair_day
    end[pair_asm] = np.minimum(pair_day + rng.integers(0, 15, size=pair_day.size), p_end)

    # Services: type + component fit the person's setting; they overlap the period.
    svc_rows = np.flatnonzero(etype == SVC)
    combo = np.full(n, -1, dtype=np.int8)
    svc_setting = setting[row_person[svc_rows]]
    for s in (COMMUNITY, RESIDENTIAL, NURSING, PRISON, CARER):
        in_setting = np.array([i for i, c in enumerate(COMBOS) if c.setting == s], dtype=np.int8)
        where = svc_rows[svc_setting == s]
        combo[where] = in_setting[_draw(rng, where.size, [COMBOS[i].weight for i in in_setting])]
    open_svc = np.zeros(n, dtype=bool)
    for term, (before_share, before_days, open_share, max_days) in _TERMS.items():
        ids = [i for i, c in enumerate(COMBOS) if c.term == term]
        where = svc_rows[np.isin(combo[svc_rows], ids)]
        k = where.size
        before = rng.random(k) < before_share
        begin = np.where(
            before,
            p_start - rng.integers(1, before_days + 1, size=k),
            rng.integers(p_start, p_end + 1, size=k),
        )
        is_open = rng.random(k) < open_share
        if max_days:  # short: ends within max_days, clipped into the period
            closed = np.clip(begin + rng.integers(0, max_days + 1, size=k), p_start, p_end)
        else:  # long: ends any day from its start (or the period start) to the period end
            lo = np.maximum(begin, p_start)
            closed = lo + np.floor(rng.random(k) * (p_end - lo + 1)).astype(np.int64)
        start[where] = begin
        end[where] = np.where(is_open, 0, closed)
        open_svc[where] = is_open
    return _Events(etype, asm_type, combo, pair_req, pair_asm, start, end, open_svc)


class _Lives(NamedTuple):
    dob: np.ndarray  # per person, int64 day numbers
    no_dob: np.ndarray  # per person: Date of Birth left blank
    dod: np.ndarray  # per person
    deceased: np.ndarray  # per person
    died_open: np.ndarray  # per row: a service that was open and ended at death


def _lives(rng: np.random.Generator, rows: _Rows, ev: _Events, p_start: int, p_end: int) -> _Lives:
    """Dates of birth (18+ at every event) and of death (on or after all the person's dates).

    Mutates ``ev``: open services of people who died end on the date of death.
    """
    n_people = rows.person_ct.shape[0]
    k = rows.n_event_people
    first = (np.cumsum(rows.sizes) - rows.sizes)[:k]
    carers = (rows.person_ct == UC) | (rows.person_ct == UCKBA)
    young = rng.random(n_people) < 0.30
    old = 65 + np.minimum(np.floor(rng.gamma(2.0, 7.0, size=n_people)), 35).astype(np.int64)
    age_years = np.where(young, rng.integers(18, 65, size=n_people), old)
    age_years = np.where(carers, rng.integers(18, 86, size=n_people), age_years)
    # whole years * 365.25 plus at least 3 days: the calendar age is never below age_years
    age_days = np.floor(age_years * 365.25).astype(np.int64) + rng.integers(3, 360, n_people)
    earliest = np.full(n_people, p_end, dtype=np.int64)  # UCKBA: age at the period end
    dod = np.zeros(n_people, dtype=np.int64)
    deceased = np.zeros(n_people, dtype=bool)
    if k:
        m = rows.n_event_rows
        earliest[:k] = np.minimum.reduceat(ev.start[:m], first)
        last = np.maximum.reduceat(np.where(ev.open_svc[:m], ev.start[:m], ev.end[:m]), first)
        deceased[:k] = (rows.person_ct[:k] == SU) & (rng.random(k) < _DECEASED_SHARE)
        dod[:k] = np.minimum(np.maximum(last, p_start) + rng.integers(0, 31, size=k), p_end)
    dob = earliest - age_days
    no_dob = carers & (rng.random(n_people) < _NO_DOB_CARER_SHARE)
    died_open = ev.open_svc & deceased[rows.row_person]
    ev.end[died_open] = dod[rows.row_person[died_open]]
    ev.open_svc[died_open] = False
    return _Lives(dob, no_dob, dod, deceased, died_open)


def generate_return(
    n_rows: int,
    *,
    seed: int = 0,
    la_code: str = "503",
    period_end: datetime.date = DEFAULT_PERIOD_END,
) -> pl.DataFrame:
    """A synthetic Release 2 return of exactly ``n_rows`` rows that meets the specification.

    The 48 columns are in ``spec.header`` order, every column ``pl.String`` (a CSV return is
    text; the validator reads it as text), null for a blank cell. The same ``seed`` always
    gives the same frame. Raises ValueError for an LA Code that is not a current council or a
    ``period_end`` that is not a quarter end (the output would not be clean).
    """
    spec = load_spec()
    _check_arguments(spec, la_code, period_end, n_rows)
    _check_tables(spec)
    rng = np.random.default_rng(seed)
    p_start, p_end = _days(_period_start(period_end)), _days(period_end)

    rows = _people(rng, n_rows)
    setting = _draw_by_group(
        rng, rows.person_ct, {SU: _SETTING, UC: {CARER: 1.0}, UNK: {COMMUNITY: 1.0}}
    )
    setting[rows.person_ct == UCKBA] = CARER
    ev = _events(rng, rows, setting, p_start, p_end)
    lives = _lives(rng, rows, ev, p_start, p_end)

    cols: dict[str, pl.Series] = {}
    every_row = np.zeros(n_rows, dtype=np.int32)
    cols["LA Code"] = pl.Series([str(la_code)], dtype=pl.String).gather(every_row)
    cols["Reporting Period Start Date"] = _date_str(np.array([p_start])).gather(every_row)
    cols["Reporting Period End Date"] = _date_str(np.array([p_end])).gather(every_row)
    del every_row
    cols.update(_person_columns(rng, rows, setting, lives))
    cols.update(_event_columns(rng, rows, ev, lives))
    cols.update(_carer_fields(rng, rows.person_ct, rows.row_person))
    cols.update(_service_columns(rng, ev))
    cols.update(_review_columns(rng, rows, ev))
    if set(cols) != set(spec.header):  # a new or renamed spec column: fail, do not guess
        raise AssertionError(
            "generate.py: columns differ from the spec header: "
            f"{sorted(set(cols) ^ set(spec.header))}"
        )
    return pl.DataFrame([cols[name].alias(name) for name in spec.header])


def _person_columns(
    rng: np.random.Generator, rows: _Rows, setting: np.ndarray, lives: _Lives
) -> dict[str, pl.Series]:
    """Person details, drawn once per person and repeated on each of their rows."""
    person_ct, P = rows.person_ct, rows.row_person  # P: the person of each row
    n_people = int(person_ct.shape[0])
    carers = (person_ct == UC) | (person_ct == UCKBA)
    cols: dict[str, pl.Series] = {}

    nhs = _nhs_numbers(rng, n_people)
    cols["NHS Number"] = _per_row(_int_str(nhs), P, rng.random(n_people) < _NO_NHS_SHARE)
    cols["LA Person Unique Identifier"] = _identifiers("P", np.arange(1, n_people + 1)).gather(P)

    gender = _draw_values(rng, n_people, GENDER)
    first_name = np.zeros(n_people, dtype=np.int64)  # index into all first names
    offset = 0
    all_first_names: list[str] = []
    for g, names in ((0, FEMALE_NAMES), (1, MALE_NAMES), (-1, NEUTRAL_NAMES)):
        mask = gender == g if g >= 0 else gender > 1
        first_name[mask] = offset + rng.integers(0, len(names), size=int(mask.sum()))
        all_first_names.extend(names)
        offset += len(names)
    cols["First Name"] = _pick(all_first_names, first_name).gather(P)
    cols["Last Name"] = _pick(LAST_NAMES, rng.integers(0, len(LAST_NAMES), n_people)).gather(P)
    cols["GP Practice Code"] = _gp_codes(rng, n_people).gather(P)
    cols["Gender"] = _pick(tuple(GENDER), gender).gather(P)
    cols["Ethnicity"] = _pick_str_table(rng, n_people, ETHNICITY).gather(P)
    cols["Date of Birth"] = _per_row(_date_str(lives.dob), P, lives.no_dob)
    cols["Date of Death"] = _per_row(_date_str(lives.dod, ~lives.deceased), P, ~lives.deceased)
    cols["Client Type"] = _pick(CLIENT_TYPES, person_ct).gather(P)

    psr = _Labels(n_people)
    psr.assign(np.flatnonzero(person_ct == SU), PSR_SERVICE_USER, rng)
    psr.assign(np.flatnonzero(person_ct == UNK), PSR_UNKNOWN_CLIENT, rng)
    psr.set(np.flatnonzero(carers), CARER_PSR)
    cols["Primary Support Reason"] = psr.series().gather(P)

    postcode_kind = _draw_values(rng, n_people, POSTCODE_KIND)
    cols["Postcode"] = _postcodes(rng, postcode_kind).gather(P)

    accommodation = _Labels(n_people)
    accommodation.assign(np.arange(n_people), ACCOMMODATION_COMMUNITY, rng)
    no_fixed_abode = (postcode_kind == list(POSTCODE_KIND).index("ZZ99 3VZ")) & (
        setting == COMMUNITY
    )
    accommodation.assign(np.flatnonzero(no_fixed_abode), ACCOMMODATION_NO_FIXED_ABODE, rng)
    for s, value in ACCOMMODATION_SETTING.items():
        accommodation.set(np.flatnonzero(setting == s), value)
    cols["Accommodation Status"] = accommodation.series().gather(P)

    # Employment Status: everyone with PSR "Learning disability support" (mandatory for
    # service users aged 18-64; given at any age so age never decides it) and some others.
    ld = psr.idx == psr.index.get("Learning disability support", -2)
    employment_blank = ~ld & (rng.random(n_people) < np.where(carers, 0.4, 0.7))
    employment = _pick_str_table(rng, n_people, EMPLOYMENT, employment_blank)
    cols["Employment Status"] = employment.gather(P)
    has_carer = _Labels(n_people)
    for c, table in HAS_CARER_BY_CLIENT.items():
        has_carer.assign(np.flatnonzero(person_ct == c), table, rng)
    cols["Has Unpaid Carer"] = has_carer.series().gather(P)
    cols["Autism Spectrum Disorder (ASD)"] = _pick_str_table(rng, n_people, ASD).gather(P)
    cols["Visual Impairment"] = _pick_str_table(rng, n_people, VISUAL).gather(P)
    cols["Hearing Impairment"] = _pick_str_table(rng, n_people, HEARING).gather(P)
    cols["Dementia"] = _pick_str_table(rng, n_people, DEMENTIA).gather(P)
    funding = _Labels(n_people)
    for c, table in FUNDING_BY_CLIENT.items():
        funding.assign(np.flatnonzero(person_ct == c), table, rng)
    cols["Client Funding Status"] = funding.series().gather(P)
    return cols


def _event_columns(
    rng: np.random.Generator, rows: _Rows, ev: _Events, lives: _Lives
) -> dict[str, pl.Series]:
    """Event Type to Method of Assessment: the fields common to events, requests, assessments."""
    n, ct, event_row = rows.n, rows.ct, rows.event_row
    is_req, is_svc, is_rev = ev.etype == REQ, ev.etype == SVC, ev.etype == REV
    cols: dict[str, pl.Series] = {}
    cols["Event Type"] = _pick(EVENT_TYPES, ev.etype)
    ref_number = np.arange(1, n + 1, dtype=np.int64)
    ref_number[ev.pair_asm] = ref_number[ev.pair_req]  # rows 0 and 1 of the same person
    cols["Event Reference"] = _gather(
        _identifiers("E", ref_number[event_row]), _subset_index(event_row)
    )
    del ref_number
    cols["Event Start Date"] = _date_str(ev.start, ~event_row)
    cols["Event End Date"] = _date_str(ev.end, ~event_row | ev.open_svc)

    description = _Labels(n)
    description.assign(np.flatnonzero(is_req), DESCRIPTION_REQUEST, rng)
    for a_type, table in DESCRIPTION_ASSESSMENT.items():
        description.assign(np.flatnonzero(ev.asm_type == a_type), table, rng)
    description.assign(np.flatnonzero(is_rev), DESCRIPTION_REVIEW, rng)
    svc_descr = np.array(
        [description.code(c.description) if c.description else -1 for c in COMBOS], dtype=np.int16
    )
    svc_rows = np.flatnonzero(is_svc)
    give = svc_rows[rng.random(svc_rows.size) < 0.5]
    description.idx[give] = svc_descr[ev.combo[give]]
    cols["Event Description"] = description.series()

    # Outcomes, within the typical table; Financial assessments have none.
    outcome = _Labels(n)
    outcome.assign(np.flatnonzero(is_req), OUTCOME_REQUEST, rng)
    not_financial = (ev.asm_type == SHORT) | (ev.asm_type == LONG)
    outcome.assign(np.flatnonzero(not_financial), OUTCOME_ASSESSMENT, rng)
    outcome.assign(svc_rows, OUTCOME_SERVICE_CLOSED, rng)
    outcome.assign(np.flatnonzero(is_rev), OUTCOME_REVIEW, rng)
    outcome.set(np.flatnonzero(ev.pair_req), PAIR_REQUEST_OUTCOME)
    outcome.set(np.flatnonzero(ev.open_svc), CONTINUATION)
    outcome.set(np.flatnonzero(lives.died_open), DECEASED)
    cols["Event Outcome"] = outcome.series()

    route = _Labels(n)
    for c, routes in ROUTE_BY_CLIENT.items():
        route.assign(np.flatnonzero(is_req & (ct == c)), routes, rng)
    cols["Request: Route of Access"] = route.series()
    cols["Assessment Type"] = _pick(ASSESSMENT_TYPES, ev.asm_type)
    eligible = _Labels(n)
    eligible.assign(np.flatnonzero(ev.asm_type == LONG), ELIGIBLE_NEEDS, rng)
    cols["Eligible Needs Identified"] = eligible.series()
    method = _Labels(n)
    for c, methods in METHOD_BY_CLIENT.items():
        method.assign(np.flatnonzero(not_financial & (ct == c)), methods, rng)
    cols["Method of Assessment"] = method.series()
    return cols


def _service_columns(rng: np.random.Generator, ev: _Events) -> dict[str, pl.Series]:
    """Service Type, Component, Delivery Mechanism, CQC Location and the three cost fields.

    Work is done on the service rows only, then spread to all rows with nulls elsewhere.
    """
    is_svc = ev.combo >= 0
    where = _subset_index(is_svc)
    combo = ev.combo[is_svc].astype(np.int64)
    k = combo.size
    cols: dict[str, pl.Series] = {}
    cols["Service Type"] = _gather(_pick(_COMBO_SERVICE_TYPES, combo), where)
    cols["Service Component"] = _gather(_pick(_COMBO_COMPONENTS, combo), where)

    delivery = np.full(k, -1, dtype=np.int64)
    for i, c in enumerate(COMBOS):
        at = np.flatnonzero(combo == i)
        drawn = _draw(rng, at.size, list(c.delivery))
        delivery[at] = np.where(drawn == 3, -1, drawn)  # 3: blank
    cols["Delivery Mechanism"] = _gather(_pick(DELIVERY_MECHANISMS, delivery), where)

    cqc_ok = np.array([c.cqc for c in COMBOS])[combo] & (rng.random(k) < 0.85)
    cqc = rng.integers(100_000_000, 10_000_000_000, size=int(cqc_ok.sum()))
    cqc_col = _gather("1-" + _int_str(cqc), _subset_index(cqc_ok))
    cols["Provider CQC Location ID"] = _gather(cqc_col, where)
    for name, values in _costs(rng, combo, delivery).items():
        cols[name] = _gather(values, where)
    return cols


def _review_columns(rng: np.random.Generator, rows: _Rows, ev: _Events) -> dict[str, pl.Series]:
    """Review Reason, Review Outcomes Achieved (always on planned reviews), Method of Review."""
    n, ct = rows.n, rows.ct
    is_rev = ev.etype == REV
    cols: dict[str, pl.Series] = {}
    reason = _Labels(n)
    for c, table in REVIEW_REASON_BY_CLIENT.items():
        reason.assign(np.flatnonzero(is_rev & (ct == c)), table, rng)
    planned = is_rev & (reason.idx == reason.index.get(PLANNED_REVIEW, -2))
    cols["Review Reason"] = reason.series()
    achieved = _Labels(n)
    achieved.assign(np.flatnonzero(planned), REVIEW_OUTCOMES, rng)
    achieved.assign(np.flatnonzero(is_rev & ~planned), REVIEW_OUTCOMES_OTHER, rng)
    cols["Review Outcomes Achieved"] = achieved.series()
    review_method = _Labels(n)
    for c, table in METHOD_BY_CLIENT.items():
        review_method.assign(np.flatnonzero(is_rev & (ct == c)), table, rng)
    cols["Method of Review"] = review_method.series()
    return cols


def _gp_codes(rng: np.random.Generator, n_people: int) -> pl.Series:
    """A letter then five characters (e.g. C83001); blank for ~8% of people."""
    letter = _pick(_GP_LETTERS, rng.integers(0, len(_GP_LETTERS), n_people))
    digits = _int_str(rng.integers(10_000, 100_000, n_people)).str.zfill(5)
    frame = pl.DataFrame({"l": letter, "d": digits})
    codes = frame.select(pl.concat_str(["l", "d"])).to_series()
    return _gather(codes, np.where(rng.random(n_people) < 0.08, -1, np.arange(n_people)))


def _postcodes(rng: np.random.Generator, kind: np.ndarray) -> pl.Series:
    """Full postcodes "LN1 1YL", outward codes alone, ZZ99 3VZ / ZZ99 3CZ, or "Unknown"."""
    n = int(kind.shape[0])
    outward = _pick(OUTWARD_CODES, rng.integers(0, len(OUTWARD_CODES), n))
    frame = pl.DataFrame(
        {
            "kind": kind,
            "out": outward,
            "d": _int_str(rng.integers(0, 10, n)),
            "a": _pick(_INWARD_LETTERS, rng.integers(0, len(_INWARD_LETTERS), n)),
            "b": _pick(_INWARD_LETTERS, rng.integers(0, len(_INWARD_LETTERS), n)),
        }
    )
    kinds = list(POSTCODE_KIND)
    return frame.select(
        pl.when(pl.col("kind") == kinds.index("full"))
        .then(pl.concat_str(["out", pl.lit(" "), "d", "a", "b"]))
        .when(pl.col("kind") == kinds.index("outward"))
        .then(pl.col("out"))
        .when(pl.col("kind") == kinds.index("ZZ99 3VZ"))
        .then(pl.lit("ZZ99 3VZ"))
        .when(pl.col("kind") == kinds.index("ZZ99 3CZ"))
        .then(pl.lit("ZZ99 3CZ"))
        .otherwise(pl.lit("Unknown"))
        .alias("postcode")
    ).to_series()


def _carer_fields(
    rng: np.random.Generator, person_ct: np.ndarray, row_person: np.ndarray
) -> dict[str, pl.Series]:
    """Unpaid carer fields for both carer client types; blank for everyone else.

    Linked IDs are LA Person Unique Identifiers of service users in this return, distinct on
    a row, and "No. of adults being cared for" is given whenever a link is, and is never
    smaller than the number of links.
    """
    n_people = int(person_ct.shape[0])
    carers = (person_ct == UC) | (person_ct == UCKBA)
    service_users = np.flatnonzero(person_ct == SU)  # person index; ID is "P" + (index + 1)
    n_su = service_users.size

    hours = _Labels(n_people)
    k = np.flatnonzero(carers & (rng.random(n_people) < np.where(person_ct == UCKBA, 0.85, 0.7)))
    hours.assign(k, HOURS_CARING, rng)

    links = _draw(rng, n_people, [0.30, 0.55, 0.12, 0.03])
    links = np.where(carers, np.minimum(links, n_su), 0)
    adults = np.where(
        links > 0,
        links + (rng.random(n_people) < 0.15),
        np.where(rng.random(n_people) < 0.6, 1 + (rng.random(n_people) < 0.15), 0),
    )
    adults = np.where(carers, adults, 0)

    out: dict[str, pl.Series] = {
        "Total Hrs Caring per week": hours.series().gather(row_person),
        "No. of adults being cared for": _per_row(_int_str(adults), row_person, adults == 0),
    }
    # links k = 0, 1, 2 are service users base, base + step, base + 2 step (mod n_su):
    # distinct when 0 < step and 2 * step < n_su (or n_su <= 2 and only that many links).
    base = rng.integers(0, max(n_su, 1), size=n_people)
    step = rng.integers(1, max(1, (n_su - 1) // 2) + 1, size=n_people)
    for j in range(3):
        if n_su:
            linked = service_users[(base + j * step) % n_su] + 1
        else:
            linked = np.zeros(n_people, dtype=np.int64)
        ids = _identifiers("P", linked)
        out[f"Adult {j + 1} Linked Person_ID"] = _per_row(ids, row_person, links <= j)
    return out


def _costs(
    rng: np.random.Generator, combo: np.ndarray, delivery: np.ndarray
) -> dict[str, pl.Series]:
    """Unit Cost, Cost Frequency and Planned units per week, for service rows only.

    Costs are on every costed service (nursing/residential type or component; Long term
    community with a CASSR managed personal budget), on most direct payments and a few others;
    planned units exactly where the frequency is Hourly, Daily or Per session.
    """
    k = combo.size
    types = np.array(_COMBO_SERVICE_TYPES, dtype=object)
    comps = np.array(_COMBO_COMPONENTS, dtype=object)
    combo_costed = np.isin(types, _COSTED_TYPES) | np.isin(comps, _CARE_HOME_COMPONENTS)
    combo_community = types == _LT_COMMUNITY
    cmpb = DELIVERY_MECHANISMS.index("CASSR managed personal budget")
    dp = DELIVERY_MECHANISMS.index("Direct payment")
    costed = combo_costed[combo] | (combo_community[combo] & (delivery == cmpb))
    extra = ((delivery == dp) & (rng.random(k) < 0.8)) | (rng.random(k) < 0.05)
    has_cost = costed | extra

    frequencies = tuple(COST_RANGE)
    freq = np.full(k, -1, dtype=np.int64)
    for i, c in enumerate(COMBOS):
        at = np.flatnonzero(has_cost & (combo == i))
        table = FREQUENCY_BY_COMPONENT[c.component]
        codes = np.array([frequencies.index(f) for f in table], dtype=np.int64)
        freq[at] = codes[_draw_values(rng, at.size, table)]

    # unit cost in pence within the frequency's range; ~40% whole pounds ("652")
    lo = np.zeros(k)
    hi = np.zeros(k)
    for i, f in enumerate(frequencies):
        at = freq == i
        lo[at], hi[at] = COST_RANGE[f]
    care_home = np.isin(comps, _CARE_HOME_COMPONENTS)[combo] & (freq == frequencies.index("Weekly"))
    lo[care_home], hi[care_home] = CARE_HOME_WEEKLY
    pence = np.round((lo + rng.random(k) * (hi - lo)) * 100).astype(np.int64)
    pence = np.where(rng.random(k) < 0.4, (pence // 100) * 100, pence)

    # planned units per week: hours in quarter hours 1-40 (<= 168); days 1-7; sessions 1-14
    units = np.zeros(k, dtype=np.int64)
    hourly, daily, session = (freq == frequencies.index(f) for f in _UNIT_FREQUENCIES)
    units[hourly] = 25 * rng.integers(4, 161, size=int(hourly.sum()))
    units[daily] = 100 * rng.integers(1, 8, size=int(daily.sum()))
    units[session] = 100 * rng.integers(1, 15, size=int(session.sum()))
    with_units = hourly | daily | session
    return {
        "Unit Cost": _decimal_str(pence, ~has_cost),
        "Cost Frequency (Unit Type)": _pick(frequencies, freq),
        "Planned units per week": _decimal_str(units, ~with_units),
    }


def write_return(
    path: str | Path,
    n_rows: int,
    *,
    seed: int = 0,
    la_code: str = "503",
    period_end: datetime.date = DEFAULT_PERIOD_END,
) -> Path:
    """Generate a return and write it as the CSV the Data Landing Portal expects.

    UTF-8 without BOM, "\\n" line ends, the exact header, blank cells empty, quotes only where
    a value needs them (commas in some defined-list values). Written whole or not at all, as
    every output is (``safety.write_atomic_with``): a reader never sees half a file.
    """
    target = Path(path)
    frame = generate_return(n_rows, seed=seed, la_code=la_code, period_end=period_end)
    folder = target.parent if str(target.parent) else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    return write_atomic_with(
        target,
        lambda tmp: frame.write_csv(
            tmp,
            include_bom=False,
            include_header=True,
            separator=",",
            line_terminator="\n",
            quote_char='"',
            null_value="",
            quote_style="necessary",
        ),
    )


def _parse_date(text: str) -> datetime.date:
    for fmt in ("%d/%m/%Y", "%Y-%m-%d"):
        try:
            return datetime.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise argparse.ArgumentTypeError(f"not a date (dd/mm/yyyy or yyyy-mm-dd): {text!r}")


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m cld_polars.generate OUT.csv --rows N --seed S``."""
    parser = argparse.ArgumentParser(
        prog="python -m cld_polars.generate",
        description="Write a synthetic CLD Release 2 return that meets the specification.",
    )
    parser.add_argument("out", type=Path, help="CSV file to write")
    parser.add_argument("--rows", type=int, default=10_000, help="number of data rows")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same file)")
    parser.add_argument("--la-code", default="503", help="council code (default 503)")
    parser.add_argument(
        "--period-end",
        type=_parse_date,
        default=DEFAULT_PERIOD_END,
        help="reporting period end, a quarter end (default 30/09/2025)",
    )
    args = parser.parse_args(argv)
    began = time.perf_counter()
    try:
        out = write_return(
            args.out, args.rows, seed=args.seed, la_code=args.la_code, period_end=args.period_end
        )
    except ValueError as exc:
        parser.error(str(exc))
    print(
        f"wrote {args.rows:,} rows to {out} in {time.perf_counter() - began:.1f}s", file=sys.stderr
    )
    return 0


# ---------------------------------------------------------------------------------------------
# A pair of consecutive quarterly returns with planted differences (for ``cld_polars.compare``)
# ---------------------------------------------------------------------------------------------

#: How many of each difference ``next_quarter_return`` plants by default.
PLANTED = {
    "disappeared": 7,
    "new_in_old_period": 5,
    "start_moved": 4,
    "cost_changes": 6,
    "dob_changes": 3,
    "nhs_changes": 2,
}


def _next_quarter_end(period_end: datetime.date) -> datetime.date:
    if period_end.month == 12:
        return datetime.date(period_end.year + 1, 3, 31)
    month = period_end.month + 3
    return datetime.date(period_end.year, month, 30 if month in (6, 9) else 31)


def next_quarter_return(
    previous: pl.DataFrame, *, seed: int = 0, planted: Mapping[str, int] | None = None
) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, int]]:
    """The next quarter's return for ``previous``, with known differences planted.

    Why: comparing two returns is only testable against differences whose number is known.
    The current return keeps every previous event still active in its period (events that
    ended before it starts drop out, as in real returns), adds new events in the new quarter,
    and then plants, on distinct events and people, the differences ``PLANTED`` names: events
    removed though inside the overlap, copies of events under new references dated in the old
    period, services re-dated 14 days earlier, unit costs raised 5%, dates of birth one day
    earlier and new NHS numbers. To exercise matching without a reference, some events lose
    their (voluntary) Event Reference in both returns and others get a new reference in the
    current one: neither is a difference to report.

    Returns (previous, current, counts): ``previous`` is the given frame with those references
    blanked; counts has the planted number of each difference (``person_changes`` being
    ``dob_changes + nhs_changes``).
    """
    counts = {**PLANTED, **(planted or {})}
    rng = np.random.default_rng(seed)
    start, end = pl.col("Event Start Date"), pl.col("Event End Date")
    fmt = "%d/%m/%Y"
    p_end = datetime.datetime.strptime(previous["Reporting Period End Date"][0], fmt).date()
    c_end = _next_quarter_end(p_end)
    c_start = _period_start(c_end)
    frame = previous.with_row_index("__i").with_columns(
        start.str.to_date(fmt, strict=False).alias("__start"),
        end.str.to_date(fmt, strict=False).alias("__end"),
    )
    is_event = pl.col("Event Type").is_not_null()
    alive = pl.col("Date of Death").is_null()
    kept = frame.filter(~is_event | pl.col("__end").is_null() | (pl.col("__end") >= c_start))
    # One reference per person and event type, so that each planted event is matched (or
    # not) by its reference alone.
    single = pl.len().over("LA Person Unique Identifier", "Event Type", "Event Reference") == 1
    candidates = kept.filter(is_event & alive & single)
    # Events in a random order; each difference takes the first suitable ones not yet taken.
    shuffled = candidates[rng.permutation(candidates.height)]
    picked: dict[str, list[int]] = {}
    used: list[int] = []
    recent = pl.col("__start") > p_end - datetime.timedelta(days=92)
    for name, n, where in (
        ("start_moved", counts["start_moved"], pl.col("Event Type") == "Service"),
        ("cost_changes", counts["cost_changes"], pl.col("Unit Cost").is_not_null()),
        ("disappeared", counts["disappeared"], pl.lit(True)),
        ("new_in_old_period", counts["new_in_old_period"], pl.lit(True)),
        ("renumbered", 10, pl.col("Event Type") != "Service"),
        ("no_reference", 10, pl.lit(True)),
        ("new_quarter", max(previous.height // 20, 1), recent),
    ):
        pool = shuffled.filter(where & ~pl.col("__i").is_in(used))["__i"].head(n).to_list()
        if len(pool) < n:
            raise ValueError(f"the previous return is too small to plant {n} {name}")
        picked[name] = pool
        used.extend(pool)

    def rows(name: str) -> pl.Expr:
        return pl.col("__i").is_in(picked[name])

    no_ref = pl.when(rows("no_reference")).then(None).otherwise(pl.col("Event Reference"))
    previous_out = frame.with_columns(no_ref.alias("Event Reference"))
    kept = kept.with_columns(no_ref.alias("Event Reference"))

    def shifted(column: pl.Expr, typed: str, days: int) -> pl.Expr:
        return (pl.col(typed) + datetime.timedelta(days=days)).dt.strftime(fmt).fill_null(column)

    costed = pl.col("Unit Cost").cast(pl.Float64, strict=False)
    current = kept.filter(~rows("disappeared")).with_columns(
        pl.when(rows("start_moved"))
        .then(shifted(start, "__start", -14))
        .otherwise(start)
        .alias("Event Start Date"),
        pl.when(rows("cost_changes"))
        .then((costed * 1.05).round(2).cast(pl.String))
        .otherwise(pl.col("Unit Cost"))
        .alias("Unit Cost"),
        pl.when(rows("renumbered"))
        .then(pl.concat_str(pl.lit("R"), pl.col("__i").cast(pl.String)))
        .otherwise(pl.col("Event Reference"))
        .alias("Event Reference"),
    )
    old_period = kept.filter(rows("new_in_old_period")).with_columns(
        shifted(start, "__start", -7).alias("Event Start Date"),
        pl.concat_str(pl.lit("X"), pl.col("__i").cast(pl.String)).alias("Event Reference"),
    )
    new_quarter = kept.filter(rows("new_quarter")).with_columns(
        shifted(start, "__start", 92).alias("Event Start Date"),
        pl.when(end.is_not_null()).then(shifted(end, "__end", 92)).alias("Event End Date"),
        pl.concat_str(pl.lit("Q"), pl.col("__i").cast(pl.String)).alias("Event Reference"),
    )
    current = pl.concat([current, old_period, new_quarter])
    people = current.filter(
        alive & pl.col("Date of Birth").is_not_null() & pl.col("NHS Number").is_not_null()
    )["LA Person Unique Identifier"].unique(maintain_order=True)
    chosen = people.gather(
        rng.permutation(people.len())[: counts["dob_changes"] + counts["nhs_changes"]]
    )
    dob_people = chosen.head(counts["dob_changes"]).to_list()
    nhs_people = chosen.tail(counts["nhs_changes"]).to_list()
    new_numbers = pl.Series([str(v) for v in _nhs_numbers(rng, len(nhs_people))], dtype=pl.String)
    pid = pl.col("LA Person Unique Identifier")
    dob = pl.col("Date of Birth").str.to_date(fmt, strict=False)
    current = current.with_columns(
        pl.when(pid.is_in(dob_people))
        .then((dob - datetime.timedelta(days=1)).dt.strftime(fmt))
        .otherwise(pl.col("Date of Birth"))
        .alias("Date of Birth"),
        pl.when(pid.is_in(nhs_people))
        .then(pid.replace_strict(nhs_people, new_numbers, default=None))
        .otherwise(pl.col("NHS Number"))
        .alias("NHS Number"),
        pl.lit(c_start.strftime(fmt)).alias("Reporting Period Start Date"),
        pl.lit(c_end.strftime(fmt)).alias("Reporting Period End Date"),
    )
    columns = previous.columns
    planted_counts = {
        name: counts[name]
        for name in ("disappeared", "new_in_old_period", "start_moved", "cost_changes")
    }
    planted_counts["person_changes"] = counts["dob_changes"] + counts["nhs_changes"]
    return previous_out.select(columns), current.select(columns), planted_counts


def generate_pair(
    n_rows: int, *, seed: int = 0, period_end: datetime.date = DEFAULT_PERIOD_END
) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, int]]:
    """Two consecutive quarterly returns (``period_end`` and the next quarter) with the
    differences of ``next_quarter_return`` planted: (previous, current, planted counts)."""
    previous = generate_return(n_rows, seed=seed, period_end=period_end)
    return next_quarter_return(previous, seed=seed)


if __name__ == "__main__":
    sys.exit(main())
