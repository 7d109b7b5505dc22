"""What the central view promises, in numbers: the contract's version and how many rows of
each list the sheet shows. Its own module so that the view and the sheet that writes it can
both read them without importing each other."""

from __future__ import annotations

#: ``central-view-contract.md``'s version, written into every JSON object.
CONTRACT_VERSION = "1"
#: Rows of each list of rows (merged records, rows with no person ID) that the Central view
#: sheet shows and whose identifiers a validation keeps: the first in line order. Bounded so
#: that the sheet's links stay within Excel's 65,530 a sheet and what validation keeps stays
#: small whatever the return's size.
LISTED_ROWS = 20_000
