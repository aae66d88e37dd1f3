"""What shelf's OpenAPI formats mean, for schemathesis (loaded through
SCHEMATHESIS_HOOKS by .ci/fuzz-openapi.sh).

`isbn`: an ISBN-10 or ISBN-13 whose check digit holds, which no JSON Schema
pattern can express. Valid values are generated here so that positive cases
carry ISBNs the server must accept; the document's pattern still bounds the
shape for negative cases.
"""

import schemathesis
from hypothesis import strategies as st


def _isbn10(digits):
    total = sum(d * (10 - i) for i, d in enumerate(digits))
    check = (11 - total % 11) % 11
    return "".join(map(str, digits)) + ("X" if check == 10 else str(check))


def _isbn13(digits):
    total = sum(d * (1 if i % 2 == 0 else 3) for i, d in enumerate(digits))
    return "".join(map(str, digits)) + str((10 - total % 10) % 10)


def _spelled(compact, hyphens):
    # Hyphens after some digits, as printed ISBNs have them.
    return "".join(c + ("-" if i in hyphens else "") for i, c in enumerate(compact[:-1])) + compact[-1]


_digits = st.integers(min_value=0, max_value=9)
_compact = st.one_of(
    st.lists(_digits, min_size=9, max_size=9).map(_isbn10),
    st.lists(_digits, min_size=12, max_size=12).map(_isbn13),
)
schemathesis.openapi.format(
    "isbn",
    st.builds(_spelled, _compact, st.sets(st.integers(min_value=0, max_value=11), max_size=4)),
)
