"""The specification's field names that code refers to, defined once.

The full header lives in ``schemas/fields.toml``; these are the names that checks, summaries
and comparisons pick out by hand. A test checks each against the catalogue, so a renamed
field in a future release fails loudly instead of silently matching nothing.
"""

from __future__ import annotations

#: The helper column holding each row's line number in the file (the header is line 1).
LINE = "__line"

LA_CODE = "LA Code"
PERIOD_START = "Reporting Period Start Date"
PERIOD_END = "Reporting Period End Date"
NHS_NUMBER = "NHS Number"
PID = "LA Person Unique Identifier"
FIRST_NAME = "First Name"
LAST_NAME = "Last Name"
GENDER = "Gender"
DOB = "Date of Birth"
DOD = "Date of Death"
CLIENT_TYPE = "Client Type"
PSR = "Primary Support Reason"
POSTCODE = "Postcode"
TYPE = "Event Type"
REF = "Event Reference"
START = "Event Start Date"
END = "Event End Date"
OUTCOME = "Event Outcome"
ROUTE_OF_ACCESS = "Request: Route of Access"
ASSESSMENT_TYPE = "Assessment Type"
ADULTS_CARED_FOR = "No. of adults being cared for"
LINKED = ("Adult 1 Linked Person_ID", "Adult 2 Linked Person_ID", "Adult 3 Linked Person_ID")
SERVICE_TYPE = "Service Type"
SERVICE_COMPONENT = "Service Component"
DELIVERY_MECHANISM = "Delivery Mechanism"
REVIEW_REASON = "Review Reason"
UNIT_COST = "Unit Cost"
FREQUENCY = "Cost Frequency (Unit Type)"
PLANNED_UNITS = "Planned units per week"

#: The fields every finding shows to say which row and event it is about.
IDS = (PID, REF, TYPE)
#: The submission fields that must hold one value across the return.
SUBMISSION = (LA_CODE, PERIOD_START, PERIOD_END)
