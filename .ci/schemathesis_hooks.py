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


# `cursor` (GET /api/v2/books): an opaque value the server signs, which no
# generator can guess, and which must continue the very listing it is sent
# with (q, sort, order). A schema-valid cursor in a generated request is
# replaced here by one the server will accept: the payload shelf's cursors
# carry (src/catalog/mod.rs `CursorState`), for that request's listing,
# sealed as src/cursor.rs seals it, with the key derived from the
# SHELF_JWT_SECRET that .ci/fuzz-openapi.sh gives the server. Cursors that
# break the schema (empty, too long) are left as generated, so negative
# cases stay negative.
import base64
import hashlib
import hmac
import json
import os
import struct

_SORTS = {"title": "Title", "author": "Author", "rating": "Rating"}
_ORDERS = {"asc": "Asc", "desc": "Desc"}


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _seal(payload):
    secret = os.environ["SHELF_JWT_SECRET"].encode()
    key = hmac.new(secret, b"shelf cursor key v1", hashlib.sha256).digest()
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return _b64(body) + "." + _b64(hmac.new(key, body, hashlib.sha256).digest())


@schemathesis.hook
def before_call(context, case, kwargs):
    # Before every call of every phase (the coverage phase does not pass
    # through the generation hooks).
    operation = context.operation
    query = case.query
    if operation is None or operation.path != "/api/v2/books" or not query:
        return
    cursor = query.get("cursor")
    if not isinstance(cursor, str) or not 1 <= len(cursor) <= 2048:
        return
    def text(name):
        value = query.get(name)
        return value if isinstance(value, str) else None

    q = text("q")
    q = (q.strip() or None) if q is not None else None
    sort = _SORTS.get(text("sort"))
    order = _ORDERS.get(text("order"), "Asc")
    after = {
        None: {"Id": 1},
        "Title": {"Text": ["m", 1]},
        "Author": {"Text": ["m", 1]},
        "Rating": {"Rating": [struct.unpack("<Q", struct.pack("<d", 2.5))[0], 1]},
    }[sort]
    query["cursor"] = _seal({"q": q, "sort": sort, "order": order, "after": after})
